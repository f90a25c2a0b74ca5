"""`orchestra doctor` on a project with Docker workers prints its table and nothing else: no
DEBUG lines from the library (the Docker runtime's preflight logged one per worker)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.docker


def test_doctor_prints_no_debug_lines(demo_project: Path, docker_client: Any) -> None:
    docker = {"image": "orchestra-test:latest"}
    workers = {w: {"runtime": "docker", "docker": docker} for w in ("architect", "coder")}
    (demo_project / "orchestra.local.yaml").write_text(
        yaml.safe_dump({"workers": workers}), encoding="utf-8"
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "orchestra"), "doctor", "--project", str(demo_project)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200", "PREFECT_API_URL": ""},
    )
    output = done.stdout + done.stderr
    assert "worker coder (command, docker image orchestra-test:latest)" in done.stdout, output
    assert "DEBUG" not in output, output
    assert done.stderr == "", output

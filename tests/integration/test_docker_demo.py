"""The whole demo cycle with every step in a Docker container (issue: Docker workers)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests_support_demo import setup_demo_with_docker

from orchestra.engine.preflight import preflight
from orchestra.errors import RuntimeUnavailableError
from orchestra.project import open_project
from orchestra.runtime.pool import RuntimePool

#: A Debian root filesystem with python3 and git, made by scripts/build-orchestrator-image.sh.
DEMO_IMAGE = "orchestra-base:bookworm"

pytestmark = [pytest.mark.docker, pytest.mark.prefect, pytest.mark.slow]


@pytest.fixture
def docker_demo(tmp_path: Path, docker_client: Any) -> Path:
    """The demo project with every step in the python3 image (missing: fail in CI, else skip)."""
    return setup_demo_with_docker(tmp_path / "demo", DEMO_IMAGE, docker_client)


def _containers(project_id: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=orchestra.project={project_id}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


class TestDockerDemo:
    def test_demo_cycle_passes_with_docker_runtime(
        self, docker_demo: Path, prefect_api: str
    ) -> None:
        """Every step runs in a container; both tasks are archived; no container is left."""
        from flows.cycle import infinite_orchestra

        project = docker_demo
        opened = open_project(project)
        assert {opened.worker(w).runtime.kind for w in opened.workflow_workers()} == {"docker"}
        state = infinite_orchestra(project=str(project), return_state=True)
        assert state.is_completed(), state.message
        done = sorted(p.name for p in (project / ".orchestra" / "done").glob("task-*.md"))
        assert len(done) == 2
        assert _containers(opened.project_id) == []
        ops = subprocess.run(
            ["git", "-C", str(project), "show", "orchestra/task-02:calc/ops.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "def multiply" in ops

    def test_unreachable_engine_stops_before_any_claim(
        self, tmp_path: Path, docker_demo: Path
    ) -> None:
        """DOCKER_HOST at a missing socket: preflight names the address; the queue is untouched."""
        project = docker_demo
        queue = project / ".orchestra" / "queue"
        queue.mkdir(parents=True)
        (queue / "task-1.md").write_text("# Goal\nx\n# Acceptance criteria\ny\n", encoding="utf-8")
        before = sorted(p.name for p in queue.iterdir())
        old = os.environ.get("DOCKER_HOST")
        os.environ["DOCKER_HOST"] = f"unix://{tmp_path}/no-such-docker.sock"
        try:
            opened = open_project(project)
            with pytest.raises(RuntimeUnavailableError) as caught:
                preflight(opened, RuntimePool(opened.project_id), "test")
        finally:
            if old is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = old
        assert "no-such-docker.sock" in str(caught.value)
        assert "runtime: {kind: process}" in str(caught.value)
        assert sorted(p.name for p in queue.iterdir()) == before
        assert not (project / ".orchestra" / "running").exists()

"""Helpers for integration tests that run the demo in Docker."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

SETUP_DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo" / "setup_demo.py"


def setup_demo_with_docker(dest: Path, image: str, docker_client: Any) -> Path:
    """The demo project with every step in ``image``; missing image: fail in CI, else skip."""
    from docker.errors import ImageNotFound

    try:
        docker_client.images.get(image)
    except ImageNotFound:
        reason = f"image {image!r} is missing: run scripts/build-orchestrator-image.sh"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    spec = importlib.util.spec_from_file_location("orchestra_tests_setup_demo_docker", SETUP_DEMO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Path(module.setup(dest, docker_image=image))

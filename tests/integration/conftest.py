"""Fixtures for tests against a real Docker engine.

The engine and the test image (``scripts/build-test-image.sh`` builds ``orchestra-test:latest``
from a static busybox, no registry needed) are checked once per session. When either is
missing the Docker tests skip with the reason — and fail with it in CI (env ``CI`` set).
Every container a test creates carries ``orchestra.project=<TEST_PROJECT>``; whatever is left
with that label is removed at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

TEST_IMAGE = "orchestra-test:latest"
TEST_PROJECT = f"orchestra-it-{uuid.uuid4().hex[:8]}"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"Docker tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client of the local engine that has the test image; sweeps test containers at the end."""
    from docker.errors import DockerException, ImageNotFound
    from prefect_docker.host import DockerHost

    try:
        client = DockerHost().get_client()
    except DockerException as exc:
        _unavailable(f"no Docker engine ({exc}): start Docker")
    try:
        client.images.get(TEST_IMAGE)
    except ImageNotFound:
        client.close()
        _unavailable(f"the image {TEST_IMAGE!r} is missing: run scripts/build-test-image.sh")
    try:
        yield client
    finally:
        label = f"orchestra.project={TEST_PROJECT}"
        for summary in client.api.containers(all=True, filters={"label": label}):
            with contextlib.suppress(DockerException):
                client.api.remove_container(summary["Id"], force=True)
        client.close()


@pytest.fixture(scope="session")
def docker_project() -> str:
    """The ``orchestra.project`` label of every container this session creates."""
    return TEST_PROJECT


@pytest.fixture(scope="session")
def docker_image() -> str:
    """The image steps run in (built by scripts/build-test-image.sh)."""
    return TEST_IMAGE


@pytest.fixture
def run_id() -> str:
    """A run id of its own per test, so a test can check that its containers are gone."""
    return f"run-{uuid.uuid4().hex[:8]}"

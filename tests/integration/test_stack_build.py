"""`make stack-up` as docs/quickstart-real.md runs it: as whoever the user is (root included,
``ORCHESTRA_UID=$(id -u)``), with only the CA configuration the machine has (this one inspects
TLS on the way to PyPI; nothing passes ``EXTRA_CA_CERTS`` by hand), the core profile alone.

Checked: the build succeeds and the worker runs as that uid; only the core profile's volumes
exist; a build that fails leaves no exited container behind.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from support.compose_stack import (
    BASE_IMAGE,
    REPO,
    compose_tool,
    free_port,
    leftovers,
    stack_down,
)

pytestmark = [pytest.mark.slow, pytest.mark.docker]

BUILD_TIMEOUT = 1200
CORE_VOLUMES = {"prefect-data", "orchestra-logs"}


def missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def stack(docker_client: Any) -> Iterator[dict[str, str]]:
    """The environment of the page's shell for a stack of the test's own; taken down after,
    its image removed."""
    from docker.errors import DockerException, ImageNotFound

    if compose_tool() is None:
        missing("neither `docker compose` nor `docker-compose` is installed")
    try:
        docker_client.images.get(BASE_IMAGE)
    except ImageNotFound:
        missing(f"the image {BASE_IMAGE!r} is missing: run `make images`")
    name = f"orch22-build-{uuid.uuid4().hex[:8]}"
    image = f"orchestra-orchestrator:{name}"
    env = {k: v for k, v in os.environ.items() if k != "EXTRA_CA_CERTS"}
    env.pop("PREFECT_API_URL", None)
    env.update(
        STACK_PROJECT=name,
        ORCHESTRA_IMAGE=image,
        ORCHESTRA_BASE_IMAGE=BASE_IMAGE,  # the page's "Without a registry"
        PREFECT_SERVER_IMAGE=image,
        PREFECT_PORT=str(free_port()),
        ORCHESTRA_PROJECT=str(REPO),
        ORCHESTRA_UID=str(os.getuid()),  # the page: $(id -u), 0 as root
        ORCHESTRA_GID=str(os.getgid()),
        ORCHESTRA_MEMORY__BACKEND="sqlite",
    )
    try:
        yield env
    finally:
        stack_down(name, env, docker_client)
        with contextlib.suppress(DockerException):
            docker_client.images.remove(image, force=True)


def make(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args, "STACK_PROFILES=core"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )


@pytest.mark.timeout(BUILD_TIMEOUT + 300)
def test_stack_up_as_this_user_behind_the_proxy(stack: dict[str, str], docker_client: Any) -> None:
    done = make(stack, "stack-up")
    said = done.stdout[-6000:] + done.stderr[-6000:]
    assert done.returncode == 0, said
    assert "SSLCertVerificationError" not in said
    name = stack["STACK_PROJECT"]
    [worker] = docker_client.containers.list(
        filters={"label": [f"com.docker.compose.project={name}",
                           "com.docker.compose.service=orchestra-worker"]}
    )  # fmt: skip
    uid = worker.exec_run(["id", "-u"]).output.decode().strip()
    assert uid == str(os.getuid()), said
    volumes = {v.removeprefix(f"{name}_") for v in leftovers(docker_client, name)["volumes"]}
    assert volumes == CORE_VOLUMES, said


@pytest.mark.timeout(BUILD_TIMEOUT + 300)
def test_a_failed_build_leaves_no_container(stack: dict[str, str], docker_client: Any) -> None:
    marker = f"no-such-gid-{uuid.uuid4().hex[:8]}"
    done = make({**stack, "ORCHESTRA_GID": marker}, "stack-up")
    assert done.returncode != 0, done.stdout[-3000:]
    left = [
        c.name
        for c in docker_client.containers.list(all=True, filters={"status": "exited"})
        if any(marker in e for e in (c.attrs["Config"].get("Env") or []))
    ]
    assert left == [], left
    assert leftovers(docker_client, stack["STACK_PROJECT"])["containers"] == []

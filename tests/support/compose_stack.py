"""Helpers for the tests that bring up the Compose stack (docker/compose.yaml, profile core).

Without a registry, the stack is built from the local Debian base, and the Prefect server runs
from our orchestrator image (the same Prefect): ``stack_env`` sets that, with a port and a
Compose project name of the test's own. ``leftovers`` / ``remove_leftovers`` find and remove what
Compose labelled with that project name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
WORKER_IMAGE = "orchestra-worker:latest"
BASE_IMAGE = "orchestra-base:bookworm"
#: Built from this checkout by `make stack-up`, for both core services.
STACK_IMAGE = "orchestra-orchestrator:compose-test"
#: The uid:gid of the image's `orchestra` user when the test runs as root (Dockerfile defaults).
STACK_UID = 1000
#: Host git on a project owned by the image's uid (the test may run as root).
GIT_SAFE = {
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "safe.directory",
    "GIT_CONFIG_VALUE_0": "*",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def compose_tool() -> list[str] | None:
    """The compose tool `make stack-up` uses, or None."""
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def host_ca_certs() -> str:
    """The host's extra CA certificates (networks that inspect TLS on the way to PyPI)."""
    if os.environ.get("EXTRA_CA_CERTS"):
        return os.environ["EXTRA_CA_CERTS"]
    folder = Path("/usr/local/share/ca-certificates")
    return "".join(p.read_text() for p in sorted(folder.glob("*.crt"))) if folder.is_dir() else ""


def stack_uid() -> int:
    """The uid the stack's worker runs as: ours, or the image default when we are root."""
    return STACK_UID if os.getuid() == 0 else os.getuid()


def hand_to_stack(project: Path) -> None:
    """As root, give the project to the worker's uid (it writes .orchestra/ there)."""
    if os.getuid() == 0:
        for path in [project, *project.rglob("*")]:
            os.lchown(path, STACK_UID, STACK_UID)


def stack_env(name: str, port: int) -> dict[str, str]:
    """The environment `make stack-up` / `stack-down` run with for the test stack ``name``."""
    env = {
        **os.environ,
        "STACK_PROJECT": name,
        "ORCHESTRA_IMAGE": STACK_IMAGE,
        "ORCHESTRA_BASE_IMAGE": BASE_IMAGE,
        "PREFECT_SERVER_IMAGE": STACK_IMAGE,
        "PREFECT_PORT": str(port),
        "EXTRA_CA_CERTS": host_ca_certs(),
        "ORCHESTRA_UID": str(stack_uid()),
        "ORCHESTRA_GID": str(stack_uid() if os.getuid() == 0 else os.getgid()),
    }
    env.pop("PREFECT_API_URL", None)
    return env


def leftovers(client: Any, name: str) -> dict[str, list[str]]:
    """Containers, networks and volumes Compose labelled with the project ``name``."""
    label = {"label": f"com.docker.compose.project={name}"}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=label)],
        "networks": [n.name for n in client.networks.list(filters=label)],
        "volumes": [v.name for v in client.volumes.list(filters=label)],
    }


def remove_leftovers(client: Any, name: str) -> None:
    """The safety net when `make stack-down` failed: nothing of the test stays running."""
    from docker.errors import DockerException

    label = {"label": f"com.docker.compose.project={name}"}
    for container in client.containers.list(all=True, filters=label):
        with contextlib.suppress(DockerException):
            container.remove(force=True)
    for network in client.networks.list(filters=label):
        with contextlib.suppress(DockerException):
            network.remove()
    for volume in client.volumes.list(filters=label):
        with contextlib.suppress(DockerException):
            volume.remove(force=True)


def stack_down(name: str, env: dict[str, str], client: Any) -> None:
    """`make stack-down PURGE=1` for the test stack, then remove whatever it left."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(
            ["make", "--no-print-directory", "stack-down", "STACK_PROFILES=core", "PURGE=1"],
            cwd=REPO,
            env={**env, "STACK_PROJECT": name},
            capture_output=True,
            check=False,
            timeout=180,
        )
    remove_leftovers(client, name)

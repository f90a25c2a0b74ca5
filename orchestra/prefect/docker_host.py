"""The Docker engine client through prefect-docker's ``DockerHost`` block, for the flows to inject
into the runtimes and the container sweep (the library itself never imports Prefect)."""

from __future__ import annotations

from typing import Any


def docker_host_client(base_url: str | None, version: str) -> Any:
    """``DockerHost(base_url, version).get_client()``: DOCKER_HOST or the local socket when
    ``base_url`` is None."""
    from prefect_docker.host import DockerHost

    return DockerHost(base_url=base_url, version=version).get_client()

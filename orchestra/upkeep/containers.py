"""Remove leftovers of dead runs: containers whose orchestrating process is gone.

Every step container carries ``orchestra.owner=<host>:<pid>`` of the process that runs the
cycle. A container whose owner died on this host (SIGKILL, crash) is an orphan. Runs at the
start of every cycle and from the flows' on_crashed/on_cancellation hooks.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import requests
from docker.errors import DockerException, NotFound
from loguru import logger

from orchestra.errors import RuntimeUnavailableError
from orchestra.project import Project
from orchestra.queue.claims import OWNER_LABEL, owner_alive
from orchestra.runtime import DockerClientFactory, sandbox


def sweep_orphans(
    project: Project,
    *,
    exclude_self: bool = False,
    engine_client: DockerClientFactory | None = None,
) -> list[str]:
    """Remove this project's step containers whose owner process is gone; return their ids."""
    bases = {
        profile.docker.base_url
        for worker_id in project.workflow_workers()
        if (profile := project.worker(worker_id)).runtime == "docker" and profile.docker is not None
    }
    removed: list[str] = []
    for base_url in bases:
        try:
            removed += _sweep_engine(
                base_url, project.project_id, exclude_self=exclude_self, engine_client=engine_client
            )
        except RuntimeUnavailableError as exc:
            logger.warning("container sweep skipped: {}", exc)
    return removed


def _sweep_engine(
    base_url: str | None,
    project_id: str,
    *,
    exclude_self: bool,
    engine_client: DockerClientFactory | None,
) -> list[str]:
    from orchestra.runtime.docker import sdk_client

    try:
        client: Any = (engine_client or sdk_client)(base_url, "auto")
    except Exception as exc:  # the docker SDK raises DockerException subclasses, untyped here
        msg = f"Docker engine {base_url or os.environ.get('DOCKER_HOST') or 'default socket'} unreachable: {exc}"
        raise RuntimeUnavailableError(msg) from exc
    try:
        summaries = client.api.containers(
            all=True, filters={"label": [f"{sandbox.LABEL_PROJECT}={project_id}"]}
        )
        keep = {
            str((s.get("Labels") or {}).get(sandbox.LABEL_RUN))
            for s in summaries
            if owner_alive((s.get("Labels") or {}).get(OWNER_LABEL), exclude_self=exclude_self)
        }
        return sweep(client, project_id, keep)
    finally:
        client.close()


def sweep(client: Any, project_id: str, keep_run_ids: set[str]) -> list[str]:
    """Remove ``project_id``'s containers whose ``orchestra.run`` is not in ``keep_run_ids``.

    Pass the runs still running. Returns the ids of the removed containers.
    """
    labels = [f"{sandbox.LABEL_PROJECT}={project_id}", f"{sandbox.LABEL_MANAGED}=true"]
    removed: list[str] = []
    try:  # the low-level list: no per-container inspect that races with removals
        for summary in client.api.containers(all=True, filters={"label": labels}):
            if (summary.get("Labels") or {}).get(sandbox.LABEL_RUN) in keep_run_ids:
                continue
            with contextlib.suppress(NotFound):  # removed meanwhile
                client.api.remove_container(summary["Id"], force=True)
            removed.append(summary["Id"])
    except (DockerException, requests.RequestException) as exc:
        msg = f"could not sweep the containers of project {project_id!r}: {exc}"
        raise RuntimeUnavailableError(msg) from exc
    if removed:
        logger.info("removed {} leftover container(s) of project {}", len(removed), project_id)
    return removed

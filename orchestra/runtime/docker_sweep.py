"""Remove the containers (and egress networks) that steps of dead runs left on a Docker engine.

Every step container carries the project, run and owner (``host:pid``) labels of
:mod:`orchestra.runtime.base`. A container whose owner is gone (SIGKILL, crash) is an orphan;
the caller says which owners are alive (:data:`~orchestra.runtime.base.OwnerAlive`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import requests
from docker.errors import DockerException, NotFound
from loguru import logger

from orchestra.errors import RuntimeUnavailableError
from orchestra.runtime.base import (
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_PROJECT,
    LABEL_RUN,
    OwnerAlive,
)


def sweep_orphans(client: Any, project_id: str, alive: OwnerAlive) -> list[str]:
    """Remove ``project_id``'s containers of runs none of whose containers has a live owner."""
    try:
        summaries = client.api.containers(
            all=True, filters={"label": [f"{LABEL_PROJECT}={project_id}"]}
        )
    except (DockerException, requests.RequestException) as exc:
        msg = f"could not list the containers of project {project_id!r}: {exc}"
        raise RuntimeUnavailableError(msg) from exc
    keep = {
        str((s.get("Labels") or {}).get(LABEL_RUN))
        for s in summaries
        if alive((s.get("Labels") or {}).get(LABEL_OWNER))
    }
    return sweep(client, project_id, keep)


def sweep(client: Any, project_id: str, keep_run_ids: set[str]) -> list[str]:
    """Remove ``project_id``'s containers whose ``orchestra.run`` is not in ``keep_run_ids``.

    Pass the runs still running. Returns the ids of the removed containers.
    """
    labels = [f"{LABEL_PROJECT}={project_id}", f"{LABEL_MANAGED}=true"]
    removed: list[str] = []
    try:  # the low-level list: no per-container inspect that races with removals
        for summary in client.api.containers(all=True, filters={"label": labels}):
            if (summary.get("Labels") or {}).get(LABEL_RUN) in keep_run_ids:
                continue
            with contextlib.suppress(NotFound):  # removed meanwhile
                client.api.remove_container(summary["Id"], force=True)
            removed.append(summary["Id"])
    except (DockerException, requests.RequestException) as exc:
        msg = f"could not sweep the containers of project {project_id!r}: {exc}"
        raise RuntimeUnavailableError(msg) from exc
    if removed:
        logger.info("removed {} leftover container(s) of project {}", len(removed), project_id)
    return removed + _sweep_networks(client, labels, keep_run_ids)


def _sweep_networks(client: Any, labels: list[str], keep_run_ids: set[str]) -> list[str]:
    """Remove the egress networks of the runs not kept (their containers are gone by now)."""
    removed: list[str] = []
    try:
        for network in client.api.networks(filters={"label": labels}):
            if (network.get("Labels") or {}).get(LABEL_RUN) in keep_run_ids:
                continue
            with contextlib.suppress(NotFound):
                client.api.remove_network(network["Id"])
            removed.append(network["Id"])
    except (DockerException, requests.RequestException) as exc:
        logger.warning("could not sweep the egress networks: {}", exc)
    return removed

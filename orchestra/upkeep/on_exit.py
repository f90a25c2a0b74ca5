"""Clean-up when a run crashes or is cancelled: its step containers are removed at once, instead
of at the next cycle's start."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestra.errors import OrchestraError
from orchestra.project import open_project
from orchestra.runtime import EngineClientFactory
from orchestra.upkeep.containers import sweep_orphans


def sweep_after_run(
    parameters: Mapping[str, Any], *, engine_client: EngineClientFactory | None = None
) -> str:
    """Remove the containers of this process's steps for the run's project; say what happened.

    ``parameters`` are the run's (``project``, ``config_files``); never raises for our errors.
    """
    try:
        project = open_project(parameters.get("project", "."), parameters.get("config_files") or [])
        removed = sweep_orphans(project, exclude_self=True, engine_client=engine_client)
    except OrchestraError as exc:
        return f"sweep failed: {exc}"
    return f"removed {len(removed)} container(s)"

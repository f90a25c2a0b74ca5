"""State hooks: when a run crashes or is cancelled, remove its step containers now."""

from __future__ import annotations

from typing import Any

from loguru import logger


def sweep_on_exit(flow: Any, flow_run: Any, state: Any) -> None:
    """on_crashed / on_cancellation hook (Prefect passes flow, flow_run, state by keyword)."""
    from orchestra.errors import OrchestraError
    from orchestra.project import open_project
    from orchestra.upkeep.containers import sweep_orphans

    params = getattr(flow_run, "parameters", None) or {}
    try:
        project = open_project(
            params.get("project", "."), params.get("config_files") or [], log=False
        )
        removed = sweep_orphans(project, exclude_self=True)
    except OrchestraError as exc:
        logger.warning(
            "{} run {} ended {}; sweep failed: {}", flow.name, flow_run.id, state.name, exc
        )
        return
    logger.info(
        "{} run {} ended {}; removed {} container(s)",
        flow.name,
        flow_run.id,
        state.name,
        len(removed),
    )

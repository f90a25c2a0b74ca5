"""State hooks: when a run crashes or is cancelled, remove its step containers now."""

from __future__ import annotations

from typing import Any

from loguru import logger

from orchestra.prefect.docker_host import docker_host_client
from orchestra.upkeep.on_exit import sweep_after_run


def sweep_on_exit(flow: Any, flow_run: Any, state: Any) -> None:
    """on_crashed / on_cancellation hook (Prefect passes flow, flow_run, state by keyword)."""
    params = getattr(flow_run, "parameters", None) or {}
    done = sweep_after_run(params, engine_client=docker_host_client)
    logger.info("{} run {} ended {}; {}", flow.name, flow_run.id, state.name, done)

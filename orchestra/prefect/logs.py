"""The bridge from our logs into Prefect's: every record also goes to the current run's logs, and
every JSON line carries the run's ids. Set up by the flows; the library logs through loguru only."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestra.project import Project
from orchestra.report.log import LEVELS, setup_project_logging
from orchestra.secrets import redact

if TYPE_CHECKING:
    from loguru import Message

_PREFECT_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


def prefect_ids() -> dict[str, str]:
    """The ids of the current flow and task run, {} outside a run."""
    try:
        from prefect.context import FlowRunContext, TaskRunContext
    except ImportError:  # pragma: no cover - prefect is a hard dependency
        return {}
    ids: dict[str, str] = {}
    task_ctx = TaskRunContext.get()
    if task_ctx is not None:
        ids["task_run_id"] = str(task_ctx.task_run.id)
        ids["flow_run_id"] = str(task_ctx.task_run.flow_run_id)
    flow_ctx = FlowRunContext.get()
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        ids.setdefault("flow_run_id", str(flow_ctx.flow_run.id))
    return ids


def prefect_sink(message: Message) -> None:
    """Forward a record into the current Prefect run's logs; silent outside a run."""
    if message.record["extra"].get("prefect") is False:
        return
    try:
        from prefect.exceptions import MissingContextError
        from prefect.logging import get_run_logger
    except ImportError:  # pragma: no cover
        return
    try:
        run_logger = get_run_logger()
    except MissingContextError:
        return
    level = LEVELS.get(message.record["level"].name, "info")
    run_logger.log(_PREFECT_LEVELS[level], redact(message.record["message"]))


def start_run_logging(project: Project) -> Path:
    """The project's JSONL log, forwarded into the current Prefect run."""
    return setup_project_logging(project, forward=prefect_sink, context_ids=prefect_ids)

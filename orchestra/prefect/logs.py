"""The bridge from our logs into Prefect's: every record also goes to the current run's logs, and
every JSON line carries the run's ids. Set up by the flows; the library logs through loguru only.

Also: no engine traceback after a run that failed on purpose. A deployed run (worker, ``serve``)
ends in ``prefect.engine``, which re-raises a Failed state's exception and logs it with its
traceback ("Engine execution exited with unexpected exception") although the run already ended
Failed with its message; :func:`quiet_failed_runs` drops exactly those records (:class:`RunFailed`),
and keeps a failed step's line without its traceback (:class:`StepFailed`: the step's outcome).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from orchestra.errors import RunFailed, StepFailed
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


#: The loggers through which Prefect's engines report the exception that ended a run.
ENGINE_LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "prefect.engine")


class _FailedOnPurpose(logging.Filter):
    """No traceback for a failure we raised on purpose, whose message says it all: a run's
    :class:`RunFailed` is dropped (the run already ended Failed with its message), a step's
    :class:`StepFailed` keeps its line without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, RunFailed):
            return False
        if isinstance(exc, StepFailed):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_failed_runs() -> None:
    """Install the filter on Prefect's engine loggers, once per process."""
    for name in ENGINE_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, _FailedOnPurpose) for f in target.filters):
            target.addFilter(_FailedOnPurpose())

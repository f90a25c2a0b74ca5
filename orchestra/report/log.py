"""Structured logging: loguru → JSONL at LOG_FILE, forwarded into Prefect run logs, secrets redacted.

One JSON object per line with exactly these fields (Alloy's pipeline parses them, a contract test
holds both together): ``timestamp`` (RFC 3339 UTC, milliseconds, ``Z``), ``level``
(debug|info|warning|error|critical), ``message``, ``source`` (module), and when known
``flow_run_id``, ``task_run_id``, ``task_id``, ``step``, ``worker``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

from orchestra.clock import iso_utc
from orchestra.secrets import redact

if TYPE_CHECKING:
    from loguru import Message, Record


LOG_FIELDS: tuple[str, ...] = ("timestamp", "level", "message", "source")


CONTEXT_FIELDS: tuple[str, ...] = ("flow_run_id", "task_run_id", "task_id", "step", "worker")


LEVELS: dict[str, str] = {
    "TRACE": "debug",
    "DEBUG": "debug",
    "INFO": "info",
    "SUCCESS": "info",
    "WARNING": "warning",
    "ERROR": "error",
    "CRITICAL": "critical",
}


_PREFECT_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


DEFAULT_MAX_BYTES = 20_000_000


def _prefect_ids() -> dict[str, str]:
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


def to_json_line(record: Record) -> str:
    """Serialise one loguru record into the JSONL contract."""
    entry: dict[str, Any] = {
        "timestamp": iso_utc(record["time"]),
        "level": LEVELS.get(record["level"].name, "info"),
        "message": redact(record["message"]),
        "source": record["name"] or "orchestra",
    }
    extra = record["extra"]
    ids = _prefect_ids()
    for name in CONTEXT_FIELDS:
        value = extra.get(name) or ids.get(name)
        if value:
            entry[name] = str(value)
    return json.dumps(entry, ensure_ascii=False)


class JsonlSink:
    """Appends one JSON line per record, flushed at once; rotates to ``<file>.1`` at max_bytes.

    Rotation renames and reopens, which Alloy's file tailer follows; one old file is kept, so
    the log never takes more than about twice ``max_bytes``.
    """

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self._fh: TextIO = path.open("a", encoding="utf-8")

    def __call__(self, message: Message) -> None:
        self._fh.write(to_json_line(message.record) + "\n")
        self._fh.flush()
        if self._fh.tell() >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        self._fh.close()
        self.path.replace(self.path.with_name(self.path.name + ".1"))
        self._fh = self.path.open("a", encoding="utf-8")

    def close(self) -> None:
        """Close the file (loguru calls stop on remove)."""
        self._fh.close()


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


def resolve_log_file(project: Path, configured: str) -> Path:
    """LOG_FILE wins over the configured path; relative paths live under the project."""
    raw = os.environ.get("LOG_FILE") or configured
    path = Path(raw).expanduser()
    return path if path.is_absolute() else project / path


def _stderr_sink(message: Message) -> None:
    sys.stderr.write(redact(str(message)))


_handlers: list[int] = []


_sink: JsonlSink | None = None


_configured: tuple[str, str, str | None] | None = None


def setup_logging(
    log_file: Path,
    *,
    level: str = "info",
    console_level: str | None = "warning",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Path:
    """(Re)configure loguru for this process: JSONL file, Prefect bridge, optional stderr."""
    global _sink, _configured  # noqa: PLW0603 - loguru is process-global; so is our bookkeeping
    wanted = (str(log_file), level, console_level)
    if _sink is not None and _configured == wanted:
        return log_file  # a subflow of the same cycle: keep the handlers (each add costs ~5 ms)
    reset_logging()
    _configured = wanted
    with contextlib.suppress(ValueError):
        logger.remove(0)  # loguru's default stderr handler; handlers others added stay
    _sink = JsonlSink(log_file, max_bytes=max_bytes)
    lvl = level.upper()
    _handlers.append(logger.add(_sink, level=lvl, catch=True))
    _handlers.append(logger.add(prefect_sink, level=lvl, catch=True))
    if console_level:
        _handlers.append(
            logger.add(
                _stderr_sink,
                level=console_level.upper(),
                format="{level:<8} {message}\n",
                catch=True,
            )
        )
    return log_file


def reset_logging() -> None:
    """Remove the handlers installed by setup_logging and close the file."""
    global _sink  # noqa: PLW0603 - see setup_logging
    for handler_id in _handlers:
        try:
            logger.remove(handler_id)
        except ValueError:
            continue
    _handlers.clear()
    if _sink is not None:
        _sink.close()
        _sink = None

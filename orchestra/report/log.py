"""Structured logging: loguru → JSONL at LOG_FILE, secrets redacted, optionally forwarded (the
flows forward into Prefect's run logs through :mod:`orchestra.prefect.logs`).

One JSON object per line with exactly these fields (Alloy's pipeline parses them, a contract test
holds both together): ``timestamp`` (RFC 3339 UTC, milliseconds, ``Z``), ``level``
(debug|info|warning|error|critical), ``message``, ``source`` (module), and when known
``flow_run_id``, ``task_run_id``, ``task_id``, ``step``, ``worker``.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

from orchestra.clock import iso_utc
from orchestra.project import Project
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


DEFAULT_MAX_BYTES = 20_000_000


def to_json_line(record: Record) -> str:
    """Serialise one loguru record into the JSONL contract."""
    entry: dict[str, Any] = {
        "timestamp": iso_utc(record["time"]),
        "level": LEVELS.get(record["level"].name, "info"),
        "message": redact(record["message"]),
        "source": record["name"] or "orchestra",
    }
    extra = record["extra"]
    ids = _context_ids()
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


def _stderr_sink(message: Message) -> None:
    sys.stderr.write(redact(str(message)))


Forward = Callable[["Message"], None]
"""A second sink every record also goes to (the flows pass Prefect's run-log bridge)."""
ContextIds = Callable[[], dict[str, str]]
"""Returns the ids of the run being logged (flow_run_id, task_run_id), {} outside a run."""


def _no_ids() -> dict[str, str]:
    return {}


_context_ids: ContextIds = _no_ids
_handlers: list[int] = []


_sink: JsonlSink | None = None


_configured: tuple[str, str, str | None, int] | None = None


def setup_logging(
    log_file: Path,
    *,
    level: str = "info",
    console_level: str | None = "warning",
    max_bytes: int = DEFAULT_MAX_BYTES,
    forward: Forward | None = None,
    context_ids: ContextIds | None = None,
) -> Path:
    """(Re)configure loguru for this process: JSONL file, an optional forward sink (the run's
    logs), optional stderr. ``context_ids`` adds the run's ids to every JSON line."""
    global _sink, _configured, _context_ids  # noqa: PLW0603 - loguru is process-global; so is our bookkeeping
    _context_ids = context_ids or _no_ids
    wanted = (str(log_file), level, console_level, id(forward))
    if _sink is not None and _configured == wanted:
        return log_file  # a subflow of the same cycle: keep the handlers (each add costs ~5 ms)
    reset_logging()
    _configured = wanted
    with contextlib.suppress(ValueError):
        logger.remove(0)  # loguru's default stderr handler; handlers others added stay
    _sink = JsonlSink(log_file, max_bytes=max_bytes)
    lvl = level.upper()
    _handlers.append(logger.add(_sink, level=lvl, catch=True))
    if forward is not None:
        _handlers.append(logger.add(forward, level=lvl, catch=True))
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


def setup_project_logging(
    project: Project, *, forward: Forward | None = None, context_ids: ContextIds | None = None
) -> Path:
    """Logging as the project's config says: its JSONL file, level and rotation."""
    cfg = project.config.logging
    level = "debug" if project.config.ui.debug else cfg.level
    return setup_logging(
        project.log_file,
        level=level,
        console_level=None,
        max_bytes=cfg.max_bytes,
        forward=forward,
        context_ids=context_ids,
    )

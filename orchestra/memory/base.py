"""The memory model shared by every backend, and the two helpers the cycle and planner use.

An item is ``(scope, project_id, key, value, tags, created_at, updated_at)``, unique on
``(scope, project_id, key)``; ``value`` is JSON text. Items relate to each other through typed,
directed relations (``cycle:<run> -[ran]-> task:<id>``). Keys follow the patterns
``project:<id>``, ``task:<task-id>``, ``cycle:<flow-run-id>`` and ``summary:project``
(docs/memory.md). Timestamps are set by the store, never by the caller.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Literal, Protocol, Self, get_args, runtime_checkable

from orchestra.clock import utc_now
from orchestra.errors import MemoryItemError

#: Scope of everything Orchestra itself writes; other writers pick their own scope.
DEFAULT_SCOPE = "orchestra"
#: Key of the planner's rolling summary of a project.
SUMMARY_KEY = "summary:project"
#: Relation type from a cycle to each task it ran.
RAN = "ran"
#: Upper bound of :func:`summarize`'s output, in characters.
SUMMARY_MAX_CHARS = 1500

TaskStatus = Literal["done", "failed", "rejected"]
TASK_STATUSES: tuple[str, ...] = get_args(TaskStatus)
_TITLE_CHARS = 200
_REASON_CHARS = 500


def project_key(project_id: str) -> str:
    """Key of the item describing a project."""
    return f"project:{project_id}"


def task_key(task_id: str) -> str:
    """Key of the item remembering one task (``task:task-03``)."""
    return f"task:{task_id}"


def cycle_key(flow_run_id: str) -> str:
    """Key of the item remembering one cycle (its Prefect flow run id)."""
    return f"cycle:{flow_run_id}"


@dataclass(frozen=True, slots=True)
class MemoryItem:
    """One remembered thing. ``created_at``/``updated_at`` are filled in by the store on put."""

    scope: str
    project_id: str
    key: str
    value: str = "{}"
    tags: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)

    def data(self) -> object:
        """The value, decoded from JSON."""
        return json.loads(self.value)


def check_item(item: MemoryItem) -> None:
    """Raise ValueError when ``item`` cannot be stored as it is."""
    for name in ("scope", "project_id", "key"):
        if not getattr(item, name):
            msg = f"memory item {name} must not be empty (key {item.key!r})"
            raise MemoryItemError(msg)
    if not all(isinstance(t, str) and t for t in item.tags):
        msg = f"memory item {item.key!r}: tags must be non-empty strings, got {item.tags!r}"
        raise MemoryItemError(msg)
    try:
        json.loads(item.value)
    except ValueError as exc:
        msg = f"memory item {item.key!r}: value must be JSON text ({exc}); use json.dumps(...)"
        raise MemoryItemError(msg) from exc


@runtime_checkable
class MemoryStore(Protocol):
    """Where the memory of past work lives. All methods are synchronous.

    Backends raise :class:`~orchestra.errors.MemoryUnavailableError` when they cannot be reached
    and ``ValueError`` when used after :meth:`close`.
    """

    @property
    def max_items(self) -> int:
        """History bound per project the store was opened with (``memory.max_items``)."""

    def put(self, item: MemoryItem) -> None:
        """Insert or replace the item; sets ``updated_at``, keeps ``created_at`` of an update."""

    def get(self, scope: str, project_id: str, key: str) -> MemoryItem | None:
        """The item, or None."""

    def delete(self, scope: str, project_id: str, key: str) -> bool:
        """Remove the item and its relations; False when there was none."""

    def recent(
        self,
        project_id: str,
        *,
        scope: str | None = None,
        tags: Sequence[str] = (),
        limit: int = 20,
    ) -> list[MemoryItem]:
        """Newest-updated items of a project first; only those carrying all of ``tags``."""

    def relate(self, src_key: str, dst_key: str, *, project_id: str, scope: str, type: str) -> None:
        """Create or refresh ``src -[type]-> dst``; KeyError when either item is missing."""

    def related(self, key: str, *, project_id: str, scope: str) -> list[tuple[str, str]]:
        """``(type, dst_key)`` of the item's outgoing relations, newest first."""

    def trim(self, project_id: str, max_items: int) -> int:
        """Delete a project's oldest items beyond ``max_items``; returns how many went."""

    def close(self) -> None:
        """Release connections; idempotent."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def _dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _as_dict(item: MemoryItem | None) -> dict[str, object]:
    if item is None:
        return {}
    try:
        data = item.data()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def record_task_outcome(
    store: MemoryStore,
    *,
    project_id: str,
    cycle_id: str,
    task_id: str,
    title: str,
    status: TaskStatus,
    reason: str,
    max_items: int,
    scope: str = DEFAULT_SCOPE,
) -> None:
    """Remember how a task ended: task and cycle items, ``cycle -[ran]-> task``, then trim."""
    if status not in TASK_STATUSES:
        msg = f"task status {status!r} is not one of {list(TASK_STATUSES)}"
        raise MemoryItemError(msg)
    t_key, c_key = task_key(task_id), cycle_key(cycle_id)
    runs = _as_dict(store.get(scope, project_id, t_key)).get("runs", 0)
    task_value = {
        "task_id": task_id,
        "title": title.strip()[:_TITLE_CHARS],
        "status": status,
        "reason": reason.strip()[:_REASON_CHARS],
        "cycle_id": cycle_id,
        "runs": (runs if isinstance(runs, int) else 0) + 1,
    }
    store.put(MemoryItem(scope, project_id, t_key, _dumps(task_value), ["task", status]))
    tasks = _as_dict(store.get(scope, project_id, c_key)).get("tasks", {})
    tasks = dict(tasks) if isinstance(tasks, dict) else {}
    tasks[task_id] = status
    cycle_value = {"cycle_id": cycle_id, "tasks": tasks}
    store.put(MemoryItem(scope, project_id, c_key, _dumps(cycle_value), ["cycle"]))
    store.relate(c_key, t_key, project_id=project_id, scope=scope, type=RAN)
    store.trim(project_id, max_items)


_HEADINGS = {"done": "Done", "failed": "Failed", "rejected": "Rejected"}


def _task_line(item: MemoryItem, data: dict[str, object]) -> str:
    task_id = str(data.get("task_id") or item.key.removeprefix("task:"))
    title = " ".join(str(data.get("title") or "(untitled)").split())[:100]
    line = f"- {task_id}: {title} ({item.updated_at:%Y-%m-%d})"
    reason = " ".join(str(data.get("reason") or "").split())[:140]
    if reason and data.get("status") != "done":
        line += f" — {reason}"
    return line


def summarize(
    store: MemoryStore,
    project_id: str,
    limit: int = 30,
    *,
    scope: str = DEFAULT_SCOPE,
    max_chars: int = SUMMARY_MAX_CHARS,
) -> str:
    """Short markdown for the planner: recently done, failed and rejected tasks, by title."""
    groups: dict[str, list[str]] = {status: [] for status in TASK_STATUSES}
    for item in store.recent(project_id, scope=scope, tags=("task",), limit=limit):
        data = _as_dict(item)
        status = str(data.get("status", ""))
        if status in groups:
            groups[status].append(_task_line(item, data))
    header = "## Memory: recent tasks\n"
    if not any(groups.values()):
        return header + "Nothing remembered yet for this project.\n"
    header += "Do not plan these again; a failed or rejected one only with a different approach.\n"
    sections = [
        (f"### {_HEADINGS[s]} ({len(lines)})", lines) for s, lines in groups.items() if lines
    ]
    out, budget = [header], max_chars - len(header)
    for index, (heading, lines) in enumerate(sections):
        share = budget // (len(sections) - index)
        used, kept = len(heading) + 1, [heading]
        for line in lines:
            if used + len(line) + 1 + 24 > share:  # 24: room for the "… n more" line
                break
            kept.append(line)
            used += len(line) + 1
        if len(kept) - 1 < len(lines):
            more = f"- … {len(lines) - len(kept) + 1} more"
            kept.append(more)
            used += len(more) + 1
        out.append("\n".join(kept) + "\n")
        budget -= used
    return "".join(out)[:max_chars]


__all__ = [
    "DEFAULT_SCOPE",
    "RAN",
    "SUMMARY_KEY",
    "SUMMARY_MAX_CHARS",
    "TASK_STATUSES",
    "MemoryItem",
    "MemoryStore",
    "TaskStatus",
    "check_item",
    "cycle_key",
    "project_key",
    "record_task_outcome",
    "summarize",
    "task_key",
]

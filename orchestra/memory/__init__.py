"""Memory of what was done, so the planner does not plan the same work twice.

``open_store(config.memory.backend, ...)`` gives a :class:`MemoryStore`: SQLite (embedded
default), Neo4j (imported only when chosen), or nothing. See docs/memory.md.
"""

from orchestra.memory.base import (
    DEFAULT_SCOPE,
    RAN,
    SUMMARY_KEY,
    SUMMARY_MAX_CHARS,
    TASK_STATUSES,
    MemoryItem,
    MemoryStore,
    TaskStatus,
    cycle_key,
    project_key,
    record_task_outcome,
    summarize,
    task_key,
)
from orchestra.memory.factory import BACKENDS, open_best_effort, open_store
from orchestra.memory.null import BestEffortStore, NullStore
from orchestra.memory.sqlite import SqliteStore

__all__ = [
    "BACKENDS",
    "DEFAULT_SCOPE",
    "RAN",
    "SUMMARY_KEY",
    "SUMMARY_MAX_CHARS",
    "TASK_STATUSES",
    "BestEffortStore",
    "MemoryItem",
    "MemoryStore",
    "NullStore",
    "SqliteStore",
    "TaskStatus",
    "cycle_key",
    "open_best_effort",
    "open_store",
    "project_key",
    "record_task_outcome",
    "summarize",
    "task_key",
]

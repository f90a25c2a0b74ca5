"""The cycle's use of memory: open it best-effort, record each task's outcome, summarise for the planner."""

from __future__ import annotations

import os
from typing import Any

from orchestra.memory import (
    BestEffortStore,
    TaskStatus,
    open_best_effort,
    record_task_outcome,
    summarize,
)
from orchestra.project import Project
from orchestra.secrets import register_secrets


def open_memory(project: Project) -> BestEffortStore:
    """The cycle's memory: best-effort, one warning per cycle when the backend is down."""
    cfg = project.config.memory
    register_secrets([os.environ.get("NEO4J_PASSWORD", "")])
    return open_best_effort(
        cfg.backend, project=project.root, path=cfg.path, max_items=cfg.max_items
    )


def remember(
    memory: BestEffortStore, project: Project, cycle_id: str, task: dict[str, Any]
) -> None:
    """Record one task's outcome so the next planner sees it."""
    status: TaskStatus = "done" if task.get("status") == "done" else "failed"
    record_task_outcome(
        memory,
        project_id=project.project_id,
        cycle_id=cycle_id,
        task_id=str(task.get("task", "?")),
        title=str(task.get("title", "")),
        status=status,
        reason=str(task.get("reason", ""))[:500],
        max_items=project.config.memory.max_items,
    )


def memory_summary(memory: BestEffortStore, project: Project) -> str:
    """The short summary the planner's prompt includes."""
    return summarize(memory, project.project_id)


def memory_state(memory: BestEffortStore) -> str:
    """'available', or why not — shown in the cycle's artifact."""
    return "available" if memory.available else f"unavailable: {memory.error}"

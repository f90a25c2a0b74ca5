"""Bookkeeping of one cycle: counts, stop rules between tasks, and the summary it ends with."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestra.logging import register_secrets
from orchestra.memory import (
    BestEffortStore,
    TaskStatus,
    open_best_effort,
    record_task_outcome,
    summarize,
)
from orchestra.project import Project


@dataclass
class CycleSummary:
    """What one cycle did, as printed at the end and returned by the flow."""

    project: str
    queue_dir: str
    runs_dir: str
    recovered: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = ""
    memory: str = "available"
    swept: int = 0
    disk_mb: float = 0.0

    @property
    def done(self) -> list[dict[str, Any]]:
        """Tasks archived as done."""
        return [t for t in self.tasks if t.get("status") == "done"]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Tasks that failed this cycle."""
        return [t for t in self.tasks if t.get("status") != "done"]

    def headline(self) -> str:
        """One line: what happened."""
        text = (
            f"planned {len(self.planned)}, ran {len(self.tasks)}, archived {len(self.done)}, "
            f"failed {len(self.failed)}, rejected {len(self.rejected)}"
        )
        if self.memory != "available":
            text += f"; memory {self.memory}"
        return f"{text}; stopped: {self.stop_reason}" if self.stop_reason else text

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly, with the derived counts."""
        data = asdict(self)
        data["headline"] = self.headline()
        return data


def read_outcome(run_dir: Path, task_id: str, fallback_reason: str) -> dict[str, Any]:
    """The outcome the task flow wrote; a crash before that is a failure with the state message."""
    path = run_dir / "outcome.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"task": task_id, "status": "failed", "reason": fallback_reason, "steps": 0}
    return data


#: In a stop reason: the failure streak, after which the running deployment pauses its schedule.
FAILURE_STREAK = "consecutive failed tasks"


def pauses_schedule(stop_reason: str) -> bool:
    """Whether this stop reason should pause the schedule that started the cycle."""
    return FAILURE_STREAK in stop_reason


def stop_after(summary: CycleSummary, *, continue_on_failure: bool, max_consecutive: int) -> str:
    """Why the cycle takes no more tasks now ('' to go on)."""
    if not summary.tasks or summary.tasks[-1].get("status") == "done":
        return ""
    if not continue_on_failure:
        return f"{summary.tasks[-1]['task']} failed and continue_on_failure is false"
    streak = 0
    for task in reversed(summary.tasks):
        if task.get("status") == "done":
            break
        streak += 1
    if streak >= max_consecutive:
        return f"{streak} {FAILURE_STREAK} (limits.max_consecutive_failures {max_consecutive})"
    return ""


def over_budget(summary: CycleSummary, max_cost_usd: float | None) -> str:
    """Why the cycle takes no more tasks because of what the agents reported spending ('' to go on)."""
    if max_cost_usd is None:
        return ""
    spent = sum(float(t.get("cost_usd") or 0.0) for t in summary.tasks)
    if spent < max_cost_usd:
        return ""
    return (
        f"agents reported ${spent:.2f} this cycle (limits.max_cost_usd_per_cycle {max_cost_usd:g})"
    )


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

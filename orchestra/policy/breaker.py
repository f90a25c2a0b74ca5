"""Stop rules between tasks: the failure streak, continue_on_failure and the cost budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Tasks = Sequence[Mapping[str, Any]]
"""The cycle's task outcomes so far, in completion order (``task``, ``status``, ``cost_usd``)."""

#: In a stop reason: the failure streak, after which the running deployment pauses its schedule.
FAILURE_STREAK = "consecutive failed tasks"


def pauses_schedule(stop_reason: str) -> bool:
    """Whether this stop reason should pause the schedule that started the cycle."""
    return FAILURE_STREAK in stop_reason


def stop_after(tasks: Tasks, *, continue_on_failure: bool, max_consecutive: int) -> str:
    """Why the cycle takes no more tasks now ('' to go on)."""
    if not tasks or tasks[-1].get("status") == "done":
        return ""
    if not continue_on_failure:
        return f"{tasks[-1]['task']} failed and continue_on_failure is false"
    streak = 0
    for task in reversed(tasks):
        if task.get("status") == "done":
            break
        streak += 1
    if streak >= max_consecutive:
        return f"{streak} {FAILURE_STREAK} (limits.max_consecutive_failures {max_consecutive})"
    return ""


def over_budget(tasks: Tasks, max_cost_usd: float | None) -> str:
    """Why the cycle takes no more tasks because of what the agents reported spending ('' to go on)."""
    if max_cost_usd is None:
        return ""
    spent = sum(float(t.get("cost_usd") or 0.0) for t in tasks)
    if spent < max_cost_usd:
        return ""
    return (
        f"agents reported ${spent:.2f} this cycle (limits.max_cost_usd_per_cycle {max_cost_usd:g})"
    )

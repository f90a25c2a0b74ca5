"""Stop rules between tasks and across cycles: the failure streak, continue_on_failure, the cost
budget, and what ends a cycle at once (an outage, an operator's stop).

The failure streak spans cycles: it is persisted in ``.orchestra/breaker.json`` and counts failed
tasks, failed planner runs, infrastructure failures and cycles that found nothing to do. A done
task resets it; an operator's stop neither counts nor resets. At
``limits.max_consecutive_failures`` the breaker trips: the cycle stops, the deployment's
schedules are paused (by the flow) and the streak starts again from zero, so a schedule resumed
by a human gets the full budget again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestra.clock import iso_utc, utc_now

Tasks = Sequence[Mapping[str, Any]]
"""The cycle's task outcomes so far, in completion order (``task``, ``status``, ``kind``,
``reason``, ``cost_usd``)."""

#: In a stop reason: the failure streak, after which the running deployment pauses its schedule.
FAILURE_STREAK = "consecutive failures"

STREAK_FILE = ".orchestra/breaker.json"

#: Reasons kept with the streak (the newest last), for the message that pauses the schedules.
KEEP_REASONS = 5


def pauses_schedule(stop_reason: str) -> bool:
    """Whether this stop reason should pause the schedule that started the cycle."""
    return FAILURE_STREAK in stop_reason


@dataclass
class FailureStreak:
    """The persisted run of failures; every change is written at once (a crash keeps it)."""

    path: Path
    count: int = 0
    reasons: list[str] = field(default_factory=list)
    since: str = ""
    trips: int = 0

    @classmethod
    def load(cls, project: Path) -> FailureStreak:
        """The project's streak; a missing or unreadable file is a streak of zero."""
        path = project / STREAK_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                path,
                count=max(0, int(data.get("count", 0))),
                reasons=[str(r) for r in data.get("reasons", [])][-KEEP_REASONS:],
                since=str(data.get("since", "")),
                trips=max(0, int(data.get("trips", 0))),
            )
        except (OSError, ValueError, TypeError, AttributeError):
            return cls(path)

    def failure(self, reason: str) -> int:
        """Count one failure; return the streak."""
        if self.count == 0:
            self.since = iso_utc(utc_now())
        self.count += 1
        self.reasons = [*self.reasons, reason[:300]][-KEEP_REASONS:]
        self._save()
        return self.count

    def success(self) -> None:
        """A done task: the streak starts again."""
        if self.count:
            self.count, self.reasons, self.since = 0, [], ""
            self._save()

    def trip(self, limit: int) -> str:
        """If the streak reached ``limit``: reset it and return why the breaker tripped; else ''."""
        if self.count < limit:
            return ""
        reason = (
            f"{self.count} {FAILURE_STREAK} since {self.since} "
            f"(limits.max_consecutive_failures {limit}); last: {self.reasons[-1] if self.reasons else '?'}"
        )
        self.count, self.reasons, self.since = 0, [], ""
        self.trips += 1
        self._save()
        return reason

    def note_task(self, task: Mapping[str, Any]) -> None:
        """Count a task's outcome: done resets, task and infrastructure failures count."""
        if task.get("status") == "done":
            self.success()
        elif task.get("kind") != "operator":
            self.failure(f"{task.get('task', '?')} failed: {task.get('reason', '')}")

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        data = {"count": self.count, "reasons": self.reasons, "since": self.since}
        tmp.write_text(json.dumps({**data, "trips": self.trips}, indent=2), encoding="utf-8")
        tmp.replace(self.path)


def stop_after(
    tasks: Tasks,
    *,
    continue_on_failure: bool,
    streak: FailureStreak,
    max_consecutive: int,
) -> str:
    """Why the cycle takes no more tasks now ('' to go on). Call after ``streak.note_task``."""
    if not tasks or tasks[-1].get("status") == "done":
        return ""
    last = tasks[-1]
    if tripped := streak.trip(max_consecutive):
        return tripped
    if last.get("kind") == "operator":
        return f"operator stop: {last.get('reason', '')}"
    if last.get("kind") == "infrastructure":
        return f"infrastructure failure: {last.get('reason', '')}"
    if not continue_on_failure:
        return f"{last['task']} failed and continue_on_failure is false"
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

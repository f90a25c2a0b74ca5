"""The failure streak across cycles and the stop rules between tasks, without running cycles."""

from __future__ import annotations

import json
from pathlib import Path

from orchestra.policy.breaker import (
    STREAK_FILE,
    FailureStreak,
    over_budget,
    pauses_schedule,
    stop_after,
)


def _failed(task: str, kind: str = "task") -> dict[str, object]:
    return {"task": task, "status": "failed", "kind": kind, "reason": f"{task} broke"}


class TestFailureStreak:
    def test_persists_across_loads(self, tmp_path: Path) -> None:
        """Each failure is written at once: a new cycle (a new load) sees the count."""
        FailureStreak.load(tmp_path).failure("planner failed")
        streak = FailureStreak.load(tmp_path)
        assert streak.count == 1
        assert streak.reasons == ["planner failed"]
        assert json.loads((tmp_path / STREAK_FILE).read_text())["count"] == 1

    def test_two_tasks_per_cycle_trip_a_limit_of_three(self, tmp_path: Path) -> None:
        """The shipped 24/7 overlay (2 tasks per cycle, limit 3) trips in the second cycle."""
        for cycle in range(2):
            streak = FailureStreak.load(tmp_path)
            reasons = []
            for n in range(2):
                tasks = [_failed(f"c{cycle}t{n}")]
                streak.note_task(tasks[-1])
                reasons.append(
                    stop_after(tasks, continue_on_failure=True, streak=streak, max_consecutive=3)
                )
        assert reasons[0].startswith("3 consecutive failures")
        assert "limits.max_consecutive_failures 3" in reasons[0]
        assert pauses_schedule(reasons[0])

    def test_trip_resets(self, tmp_path: Path) -> None:
        """Once tripped, the streak starts from zero: a resumed schedule gets the full budget."""
        streak = FailureStreak.load(tmp_path)
        for n in range(3):
            streak.failure(f"f{n}")
        assert streak.trip(3)
        assert FailureStreak.load(tmp_path).count == 0
        assert FailureStreak.load(tmp_path).trips == 1
        assert streak.trip(3) == ""

    def test_success_resets(self, tmp_path: Path) -> None:
        """A done task resets the streak."""
        streak = FailureStreak.load(tmp_path)
        streak.note_task(_failed("a"))
        streak.note_task(_failed("b", "infrastructure"))
        streak.note_task({"task": "c", "status": "done"})
        assert FailureStreak.load(tmp_path).count == 0

    def test_operator_stop_neither_counts_nor_resets(self, tmp_path: Path) -> None:
        """An operator's stop is nobody's failure and no success either."""
        streak = FailureStreak.load(tmp_path)
        streak.note_task(_failed("a"))
        streak.note_task(_failed("b", "operator"))
        assert FailureStreak.load(tmp_path).count == 1

    def test_unreadable_file_is_zero(self, tmp_path: Path) -> None:
        """A corrupt breaker.json is a fresh streak, not a crash."""
        (tmp_path / STREAK_FILE).parent.mkdir(parents=True)
        (tmp_path / STREAK_FILE).write_text("{not json", encoding="utf-8")
        assert FailureStreak.load(tmp_path).count == 0
        (tmp_path / STREAK_FILE).write_text("[1, 2]", encoding="utf-8")
        assert FailureStreak.load(tmp_path).count == 0


class TestStopAfter:
    def test_done_goes_on(self, tmp_path: Path) -> None:
        streak = FailureStreak.load(tmp_path)
        tasks = [{"task": "a", "status": "done"}]
        assert stop_after(tasks, continue_on_failure=False, streak=streak, max_consecutive=1) == ""

    def test_no_tasks_goes_on(self, tmp_path: Path) -> None:
        streak = FailureStreak.load(tmp_path)
        assert stop_after([], continue_on_failure=False, streak=streak, max_consecutive=1) == ""

    def test_continue_on_failure_false_stops(self, tmp_path: Path) -> None:
        """Without continue_on_failure the first task failure stops the cycle (no pause)."""
        streak = FailureStreak.load(tmp_path)
        reason = stop_after(
            [_failed("a")], continue_on_failure=False, streak=streak, max_consecutive=5
        )
        assert reason == "a failed and continue_on_failure is false"
        assert not pauses_schedule(reason)

    def test_continue_on_failure_true_goes_on(self, tmp_path: Path) -> None:
        streak = FailureStreak.load(tmp_path)
        streak.note_task(_failed("a"))
        assert (
            stop_after([_failed("a")], continue_on_failure=True, streak=streak, max_consecutive=5)
            == ""
        )

    def test_infrastructure_ends_the_cycle(self, tmp_path: Path) -> None:
        """An outage ends the cycle at once, even with continue_on_failure."""
        streak = FailureStreak.load(tmp_path)
        tasks = [_failed("a", "infrastructure")]
        streak.note_task(tasks[-1])
        reason = stop_after(tasks, continue_on_failure=True, streak=streak, max_consecutive=5)
        assert reason == "infrastructure failure: a broke"

    def test_operator_ends_the_cycle(self, tmp_path: Path) -> None:
        """An operator's stop claims nothing more."""
        streak = FailureStreak.load(tmp_path)
        tasks = [_failed("a", "operator")]
        reason = stop_after(tasks, continue_on_failure=True, streak=streak, max_consecutive=1)
        assert reason == "operator stop: a broke"
        assert not pauses_schedule(reason)

    def test_streak_wins_over_outage(self, tmp_path: Path) -> None:
        """The failure that trips the breaker stops with the breaker's reason (schedules pause)."""
        streak = FailureStreak.load(tmp_path)
        tasks = [_failed("a", "infrastructure")]
        streak.note_task(tasks[-1])
        reason = stop_after(tasks, continue_on_failure=True, streak=streak, max_consecutive=1)
        assert pauses_schedule(reason)
        assert "last: a failed: a broke" in reason


class TestOverBudget:
    def test_no_budget(self) -> None:
        assert over_budget([{"cost_usd": 99.0}], None) == ""

    def test_under_and_over(self) -> None:
        tasks = [{"cost_usd": 0.4}, {"cost_usd": None}, {"cost_usd": 0.5}]
        assert over_budget(tasks, 1.0) == ""
        reason = over_budget([*tasks, {"cost_usd": 0.1}], 1.0)
        assert reason == "agents reported $1.00 this cycle (limits.max_cost_usd_per_cycle 1)"

"""Running tasks in parallel without Prefect: a simulated clock decides which running task ends
first, so the order rules (claims, stop rules, completion order, bounds) are exact."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from orchestra.engine.parallel import (
    ParallelTasks,
    Running,
    peak_parallel,
    run_parallel,
    side_by_side,
)
from orchestra.errors import ConfigError
from orchestra.queue.claims import Claimed, ClaimRecord
from orchestra.queue.taskfile import parse_task

TASK = "## Goal\n\nG.\n\n## Acceptance criteria\n\n- A\n"


class Clock:
    """Tasks take the given durations; waiting returns the running one that ends first."""

    def __init__(self, durations: dict[str, float]) -> None:
        self.now = 0.0
        self.durations = durations
        self.ends: dict[str, float] = {}
        self.peak = 0

    def start(self, claimed: Claimed) -> str:
        task_id = claimed.task.task_id
        self.ends[task_id] = self.now + self.durations[task_id]
        self.peak = max(self.peak, len(self.ends))
        return task_id

    def wait_any(self, handles: Sequence[str]) -> list[str]:
        first = min(handles, key=lambda h: self.ends[h])
        self.now = self.ends.pop(first)
        return [first]


def tasks(tmp_path: Path, count: int) -> list[Path]:
    paths = []
    for n in range(1, count + 1):
        path = tmp_path / f"task-{n}.md"
        path.write_text(TASK, encoding="utf-8")
        paths.append(path)
    return paths


def claim(path: Path) -> Claimed:
    return Claimed(parse_task(path, max_chars=10_000), ClaimRecord("run", "host", 1, "now"))


def parallel_tasks(
    clock: Clock, k: int, max_tasks: int, ended: list[str], stop: list[str]
) -> ParallelTasks[str]:
    def after(running: Running[str]) -> None:
        ended.append(running.task_id)

    return ParallelTasks(k, max_tasks, claim, clock.start, clock.wait_any, after, lambda: stop[0])


class TestRunParallel:
    def test_at_most_k_run_at_once(self, tmp_path: Path) -> None:
        """Six tasks at k=2 never run more than two at a time, and all six end."""
        clock = Clock({f"task-{n}": 1.0 for n in range(1, 7)})
        ended: list[str] = []
        assert run_parallel(parallel_tasks(clock, 2, 10, ended, [""]), tasks(tmp_path, 6)) == ""
        assert clock.peak == 2
        assert sorted(ended) == sorted(f"task-{n}" for n in range(1, 7))
        assert clock.now == 3.0

    def test_outcomes_arrive_in_completion_order(self, tmp_path: Path) -> None:
        """A short task started second ends first and is recorded first."""
        clock = Clock({"task-1": 5.0, "task-2": 1.0, "task-3": 1.0})
        ended: list[str] = []
        run_parallel(parallel_tasks(clock, 2, 10, ended, [""]), tasks(tmp_path, 3))
        assert ended == ["task-2", "task-3", "task-1"]

    def test_max_tasks_bounds_the_total(self, tmp_path: Path) -> None:
        """max_tasks 3 claims three of five tasks, whatever k is."""
        clock = Clock({f"task-{n}": 1.0 for n in range(1, 6)})
        ended: list[str] = []
        d = parallel_tasks(clock, 4, 3, ended, [""])
        run_parallel(d, tasks(tmp_path, 5))
        assert d.taken == 3
        assert sorted(ended) == ["task-1", "task-2", "task-3"]

    def test_stop_claims_nothing_more_but_running_tasks_end(self, tmp_path: Path) -> None:
        """A stop reason after the first end: the other running task is still awaited and
        recorded, no further task is claimed, and the reason is returned."""
        clock = Clock({"task-1": 1.0, "task-2": 4.0, "task-3": 1.0})
        ended: list[str] = []
        stop = [""]

        def after(running: Running[str]) -> None:
            ended.append(running.task_id)
            stop[0] = "breaker"

        d = ParallelTasks(2, 10, claim, clock.start, clock.wait_any, after, lambda: stop[0])
        assert run_parallel(d, tasks(tmp_path, 3)) == "breaker"
        assert ended == ["task-1", "task-2"]
        assert d.taken == 2

    def test_unclaimable_task_is_skipped(self, tmp_path: Path) -> None:
        """A task the queue will not hand out (None) costs no slot."""
        clock = Clock({"task-2": 1.0})
        ended: list[str] = []
        paths = tasks(tmp_path, 2)

        def picky(path: Path) -> Claimed | None:
            return None if path.name == "task-1.md" else claim(path)

        after = lambda r: ended.append(r.task_id)  # noqa: E731
        d = ParallelTasks(1, 10, picky, clock.start, clock.wait_any, after, lambda: "")
        run_parallel(d, paths)
        assert ended == ["task-2"]

    def test_k_below_one_is_refused(self, tmp_path: Path) -> None:
        """parallel 0 names the value and the key."""
        with pytest.raises(ConfigError, match="parallel must be at least 1, got 0"):
            run_parallel(parallel_tasks(Clock({}), 0, 1, [], [""]), [])


class TestSideBySide:
    def test_overlaps_and_peak(self) -> None:
        """Overlapping [started, ended) spans are listed for each task; the peak counts them."""
        rows = [
            {"task": "a", "started": "2026-01-01T00:00:00Z", "ended": "2026-01-01T00:00:10Z"},
            {"task": "b", "started": "2026-01-01T00:00:05Z", "ended": "2026-01-01T00:00:15Z"},
            {"task": "c", "started": "2026-01-01T00:00:10Z", "ended": "2026-01-01T00:00:20Z"},
            {"task": "d", "status": "failed"},
        ]
        assert side_by_side(rows) == {"a": ["b"], "b": ["a", "c"], "c": ["b"], "d": []}
        assert peak_parallel(rows) == 2
        assert peak_parallel([]) == 0

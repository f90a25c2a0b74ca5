"""Up to ``k`` claimed tasks at once: which task starts when, and what a cycle does as each ends.

Prefect-free: the flow injects how a task starts (a subflow on a thread, or a deployment run on a
work pool) and how to wait for the first of the running ones. The rules stay the ones of the
sequential cycle:

- claims happen here, on the cycle's thread only (one writer for the queue);
- nothing more is claimed once ``stop_reason()`` (kill switch, breaker, budget) gives a reason;
- ``after_each`` sees outcomes in completion order, so the breaker counts them as they end;
- ``max_tasks`` bounds the tasks claimed in total, whatever ``k`` is.

Tasks already running when a stop rule trips are not abandoned: they were claimed, and the kill
switch and cancellation stop their steps themselves (every step polls them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from orchestra.errors import ConfigError
from orchestra.queue.claims import Claimed

H = TypeVar("H")
"""A handle on a running task (a future): whatever ``start`` returns and ``wait_any`` takes."""


@dataclass
class Running(Generic[H]):
    """A task that was started and has not been settled by the cycle yet."""

    claimed: Claimed
    handle: H

    @property
    def task_id(self) -> str:
        """The task's id."""
        return self.claimed.task.task_id


@dataclass
class ParallelTasks(Generic[H]):
    """How the cycle starts and waits for tasks; see :func:`run_parallel`."""

    k: int
    max_tasks: int
    claim: Callable[[Path], Claimed | None]
    start: Callable[[Claimed], H]
    wait_any: Callable[[Sequence[H]], Iterable[H]]
    """Block until at least one handle is done; return the done ones (in completion order)."""
    after_each: Callable[[Running[H]], None]
    """Called for each ended task, in completion order (record the outcome, apply the breaker)."""
    stop_reason: Callable[[], str]
    """Why no further task may be claimed now ('' to go on)."""
    on_change: Callable[[list[Running[H]]], None] = lambda running: None
    """Told the running tasks whenever they change (progress display)."""
    running: list[Running[H]] = field(default_factory=list)
    taken: int = 0


def run_parallel(tasks: ParallelTasks[H], pending: Iterable[Path]) -> str:
    """Run the ``pending`` task files, at most ``tasks.k`` at once; return the stop reason ('')."""
    if tasks.k < 1:
        msg = f"parallel must be at least 1, got {tasks.k!r}; set workflows.infinite_orchestra.parallel"
        raise ConfigError(msg)
    queue = iter(pending)
    reason = ""
    exhausted = False
    while True:
        while len(tasks.running) < tasks.k and tasks.taken < tasks.max_tasks and not exhausted:
            reason = tasks.stop_reason()
            if reason:
                break
            path = next(queue, None)
            if path is None:
                exhausted = True
                break
            claimed = tasks.claim(path)
            if claimed is None:
                continue
            tasks.taken += 1
            tasks.running.append(Running(claimed, tasks.start(claimed)))
            tasks.on_change(list(tasks.running))
        if not tasks.running:
            return reason or tasks.stop_reason()
        for handle in tasks.wait_any([r.handle for r in tasks.running]):
            ended = next(r for r in tasks.running if r.handle is handle)
            tasks.running.remove(ended)
            tasks.after_each(ended)
            tasks.on_change(list(tasks.running))
        if reason := tasks.stop_reason():
            exhausted = True  # claim nothing more; let the running ones finish


def _interval(task: dict[str, Any]) -> tuple[datetime, datetime] | None:
    try:
        return datetime.fromisoformat(task["started"]), datetime.fromisoformat(task["ended"])
    except (KeyError, TypeError, ValueError):
        return None


def side_by_side(tasks: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """For each task id, the other tasks whose run overlapped its own (from started/ended)."""
    spans = {str(t.get("task")): _interval(t) for t in tasks}
    found: dict[str, list[str]] = {}
    for task_id, span in spans.items():
        found[task_id] = [
            other
            for other, theirs in spans.items()
            if other != task_id and span and theirs and theirs[0] < span[1] and span[0] < theirs[1]
        ]
    return found


def peak_parallel(tasks: Sequence[dict[str, Any]]) -> int:
    """The most tasks that ran at the same moment (1 for a sequential cycle, 0 for none)."""
    edges: list[tuple[datetime, int]] = []
    for task in tasks:
        if span := _interval(task):
            edges += [(span[0], 1), (span[1], -1)]
    peak = level = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        level += step
        peak = max(peak, level)
    return peak

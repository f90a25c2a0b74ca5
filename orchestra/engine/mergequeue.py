"""The merge queue: every verified result enters the user's repository through :func:`land`.

One path for a local task, a retry whose result is already on its branch, and a pool task
(settled on the cycle's host). Results land one at a time, in the order they reach the queue
(the order tasks complete): a FIFO of tickets among the cycle's threads, and the project's
integration lock (a file lock) against any other process.

A result whose target moved since its clone was made (another task landed) is replayed onto
the target and verified again. When the replay conflicts, a ``resolve`` step runs (the
fixer's worker by default, ``git.resolve_worker``), told which files conflict; its work is
checked for leftover conflict markers, committed on the target, verified again, and only then
lands. Anything that fails leaves the verified result on ``orchestra/<task-id>`` with the
reason, naming the conflicting files.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from loguru import logger

from orchestra.config.models import StepConfig
from orchestra.engine.step import StepContext, StepRecord
from orchestra.project import Project
from orchestra.workspace.clone import TaskWorkspace, fetch_branch, write_patch
from orchestra.workspace.integrate import (
    advance,
    commit_resolution,
    integration_lock,
    landing_target,
    markers_left,
    replay,
    undo_rebase,
)


@dataclass(frozen=True)
class Checks:
    """What the queue runs on a replayed result: each returns why it failed, or None."""

    verify: Callable[[TaskWorkspace], str | None]
    resolve: Callable[[TaskWorkspace, list[str]], str | None]


class StepHost(Protocol):
    """The task's step machinery (engine.task.TaskRun): a step's context, and running it."""

    project: Project
    tip: str | None

    def context(self, step: StepConfig, ws: TaskWorkspace) -> StepContext: ...

    def run(self, ctx: StepContext, ws: TaskWorkspace) -> StepRecord: ...


@dataclass
class Landing:
    """What the queue did with one result."""

    text: str
    """For the integration column: landed where, or why not (left on its branch)."""
    commit: str | None
    position: int = 0
    """Its place in the queue (1 = the first result that reached it in this process)."""
    waited_s: float = 0.0
    took_s: float = 0.0
    replayed: bool = False

    @property
    def queue(self) -> str:
        """The queue column of the cycle table."""
        what = ", replayed and verified again" if self.replayed else ""
        return f"#{self.position}: waited {self.waited_s:.1f} s, took {self.took_s:.1f} s{what}"


class _Fifo:
    """Tickets served in the order they were drawn (threads of one process)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._drawn = itertools.count(1)
        self._serving = 1
        self._gone: set[int] = set()
        """Tickets whose holder stopped waiting (interrupted): their turn is skipped."""

    def _next(self) -> None:
        self._serving += 1
        while self._serving in self._gone:
            self._gone.discard(self._serving)
            self._serving += 1
        self._cond.notify_all()

    @contextmanager
    def turn(self) -> Iterator[int]:
        with self._cond:
            ticket = next(self._drawn)
            try:
                self._cond.wait_for(lambda: self._serving == ticket)
            except BaseException:
                if self._serving == ticket:
                    self._next()
                else:
                    self._gone.add(ticket)
                raise
        try:
            yield ticket
        finally:
            with self._cond:
                self._next()


_QUEUES: dict[Path, _Fifo] = {}
_QUEUES_LOCK = threading.Lock()


@contextmanager
def queue_turn(project: Project) -> Iterator[int]:
    """Wait for this result's turn (FIFO in this process, then the project's file lock)."""
    state = project.root / ".orchestra"
    with _QUEUES_LOCK:
        fifo = _QUEUES.setdefault(state.resolve(), _Fifo())
    with fifo.turn() as ticket, integration_lock(state):
        yield ticket


def resolver(project: Project) -> str | None:
    """The worker of the resolve step: ``git.resolve_worker``, else the fixer's (the
    workflow's, else any worker with that role); None: off."""
    chosen = project.config.git.resolve_worker
    if chosen is not None:
        return None if chosen == "none" else chosen
    steps = project.config.workflows.roocode_boomerang.steps
    ids = [s.worker for s in steps] + sorted(project.config.workers)  # the workflow's first
    return next((w for w in ids if project.worker(w).role == "fixer"), None)


def resolve_step(host: StepHost, ws: TaskWorkspace, files: list[str]) -> str | None:
    """Run the resolve step in ``ws`` (the merge with conflict markers); why it failed, or None."""
    worker = resolver(host.project)
    if worker is None:
        return "no resolve step (no fixer in the workflow, or git.resolve_worker: none)"
    step = StepConfig(id="resolve", worker=worker, title="Resolve", prompt="resolve")
    ctx = host.context(step, ws)
    listed = "\n".join(f"- `{name}`" for name in files)
    ctx = replace(ctx, values={**ctx.values, "conflicts": listed})
    record = host.run(ctx, ws)
    host.tip = None  # the resolution is committed next: the steps after it look again
    return None if record.ok else f"resolve ({worker}) {record.status}: {record.message}"


def land(
    project: Project,
    ws: TaskWorkspace,
    commit: str,
    checks: Checks,
    *,
    patch_dest: Path | None = None,
) -> Landing:
    """Bring the verified result ``commit`` (the tip of ``ws.branch``) in, as configured."""
    cfg = project.config.git
    arrived = time.monotonic()
    with queue_turn(project) as ticket:
        began = time.monotonic()
        landing = Landing("", commit, ticket, began - arrived)
        problem = None
        if cfg.integration == "merge":
            target, onto = landing_target(project.root, ws.base)
            if onto != ws.base_commit:
                landing.replayed = True
                problem = _replay(project, ws, onto, commit, checks)
        landing.commit = fetch_branch(project.root, ws, replaces=commit)
        landing.text = f"branch {ws.branch}"
        if cfg.integration == "patch" and patch_dest is not None:
            landing.text += f"; patch {write_patch(ws, patch_dest)}"
        elif problem:
            landing.text += f"; not merged: {problem}; left on its branch"
        elif cfg.integration == "merge":
            landing.text += "; " + advance(project.root, target, ws.branch, ws.base)
        landing.took_s = time.monotonic() - began
    logger.bind(task_id=ws.branch.removeprefix("orchestra/"), event="merge-queue").info(
        "merge queue {}: {}", landing.queue, landing.text
    )
    return landing


def _replay(
    project: Project, ws: TaskWorkspace, onto: str, commit: str, checks: Checks
) -> str | None:
    """Replay onto the moved target, resolve a conflict, verify; why it cannot land, or None
    (the branch and work tree are back on ``commit`` then)."""
    cfg = project.config.git
    ident = {"author_name": cfg.author_name, "author_email": cfg.author_email}
    where = f"the moved {ws.base!r} ({onto[:12]})"
    conflicts = replay(ws, onto, commit, **ident)
    problem = None
    if conflicts:
        named = ", ".join(conflicts)
        if why := checks.resolve(ws, conflicts):
            problem = f"rebase onto {where} conflicts in {named}; {why}"
        elif left := markers_left(ws, conflicts):
            problem = f"rebase onto {where} conflicts in {named}; the resolve step left conflict markers in {', '.join(left)}"
        elif commit_resolution(ws, commit, **ident) is None:
            problem = f"rebase onto {where} conflicts in {named}; the resolve step kept nothing of the result"
    if problem is None and (failed := checks.verify(ws)):
        resolved = f" (conflicts in {', '.join(conflicts)} resolved)" if conflicts else ""
        problem = f"verify after the rebase onto {where}{resolved} failed: {failed.splitlines()[0]}"
    if problem:
        undo_rebase(ws, commit)
    return problem

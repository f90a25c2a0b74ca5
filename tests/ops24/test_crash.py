"""Crash safety: a cycle SIGKILLed mid-step loses nothing, and the next cycle cleans up after it.

``crash`` runs ``python -m flows.run`` on a demo project with two tasks queued and a slow agent,
waits until the first task's first step runs, then SIGKILLs the cycle's process group and the
agent's (its own session). The next cycle then runs in process, without the slow agent.
``orphan`` kills the cycle's process group alone (an OOM kill, say): its agent, in a session of
its own, runs on in the dead run's clone until the next cycle stops it.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ops24_support import (
    CycleProcess,
    agent_pids,
    cycle_json,
    front_matter,
    kill_group,
    queue_tasks,
    running_step,
    spawn_cycle,
    task_files,
    wait_for,
    worktrees,
)

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def total_tasks(listing: dict[str, list[str]]) -> int:
    return sum(len(names) for names in listing.values())


def _kill_everything(cycle: CycleProcess, project: Path) -> None:
    """SIGKILL the cycle's process group and each agent's group, as a hard crash would."""
    groups = {os.getpgid(pid) for pid in agent_pids(project)}
    kill_group(cycle.proc.pid)
    for pgid in groups:
        kill_group(pgid)
    cycle.proc.wait(timeout=30)
    wait_for("the killed agent to be gone", lambda: not agent_pids(project), timeout=30)


@dataclass
class Crash:
    """The project after the crash and after the next cycle, and what each looked like."""

    project: Path
    copy: Path
    killed_output: str = ""
    after_crash: dict[str, list[str]] = field(default_factory=dict)
    worktrees_after_crash: list[str] = field(default_factory=list)
    claim_after_crash: bool = False
    state: Any = None
    cycle: dict[str, Any] = field(default_factory=dict)
    after_cycle: dict[str, list[str]] = field(default_factory=dict)
    worktrees_after_cycle: list[str] = field(default_factory=list)
    agents_after_cycle: list[int] = field(default_factory=list)
    recovery_only: dict[str, Any] = field(default_factory=dict)
    worktrees_after_recovery_only: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def crash(
    prefect_api: str,
    new_demo: Callable[[Path], Path],
    demo_task: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Crash]:
    """Kill a cycle mid-step, then run the next one (and a recovery-only one on a copy)."""
    from flows.cycle import infinite_orchestra

    base = tmp_path_factory.mktemp("crash")
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith(("ORCHESTRA_", "DEMO_AGENT_"))]:
            env.delenv(name)
        env.setenv("XDG_CONFIG_HOME", str(base / "xdg"))
        project = new_demo(base / "demo")
        queue_tasks(project, demo_task, "multiply", "divide")
        environ = dict(os.environ, PREFECT_API_URL=prefect_api, DEMO_AGENT_SLEEP="20")
        log = base / "killed-cycle.log"
        proc = spawn_cycle(project, log, environ)
        cycle = CycleProcess(proc, log)
        try:
            cycle.wait_until("a task step starts", lambda: running_step(project), timeout=90)
            cycle.wait_until("the agent runs", lambda: agent_pids(project), timeout=30)
        finally:
            _kill_everything(cycle, project)
        assert proc.returncode == -signal.SIGKILL
        told = Crash(project=project, copy=base / "copy", killed_output=cycle.output())
        told.after_crash = task_files(project)
        told.worktrees_after_crash = worktrees(project)
        told.claim_after_crash = (project / ".orchestra/running/task-01.claim.json").is_file()
        shutil.copytree(project, told.copy, symlinks=True)

        told.state = infinite_orchestra(project=str(project), return_state=True)
        told.cycle = cycle_json(project, told.state)
        told.after_cycle = task_files(project)
        told.worktrees_after_cycle = worktrees(project)
        told.agents_after_cycle = agent_pids(project)

        only = infinite_orchestra(project=str(told.copy), plan_only=True, return_state=True)
        told.recovery_only = cycle_json(told.copy, only)
        told.worktrees_after_recovery_only = worktrees(told.copy)
        yield told


class TestAfterTheKill:
    """What a SIGKILL mid-step leaves behind (the starting point of the next cycle)."""

    def test_task_still_claimed(self, crash: Crash) -> None:
        """The task being worked on stays in running/ with its claim record; the other waits."""
        assert crash.after_crash["running"] == ["task-01.md"], crash.killed_output[-3000:]
        assert crash.claim_after_crash
        assert crash.after_crash["queue"] == ["task-02.md"]

    def test_orphan_clone_left(self, crash: Crash) -> None:
        """The killed task's clone is still under .orchestra/worktrees."""
        assert crash.worktrees_after_crash == ["task-01"]

    def test_no_task_file_lost(self, crash: Crash) -> None:
        """Both task files still exist, across all queue folders."""
        assert total_tasks(crash.after_crash) == 2


class TestNextCycle:
    """The next cycle recovers the dead claim before anything runs, and finishes the queue."""

    def test_dead_claim_recovered(self, crash: Crash) -> None:
        """The cycle's first act returns the dead run's task to the queue (cycle.json recovered)."""
        assert crash.cycle["recovered"] == ["task-01.md"]

    def test_attempt_counted(self, crash: Crash) -> None:
        """The recovered task carries attempts 1 (the killed run); the untouched one none."""
        done = crash.project / ".orchestra" / "done"
        [task_01] = done.glob("task-01-*.md")
        [task_02] = done.glob("task-02-*.md")
        assert front_matter(task_01)["attempts"] == 1
        assert "attempts" not in front_matter(task_02)

    def test_queue_finishes(self, crash: Crash) -> None:
        """Both tasks end in done/; nothing is left queued, running, failed or rejected."""
        assert crash.state.is_completed(), crash.state.message
        listing = crash.after_cycle
        assert [n.split("-20")[0] for n in listing["done"]] == ["task-01", "task-02"]
        assert total_tasks(listing) == 2

    def test_orphan_clone_removed(self, crash: Crash) -> None:
        """No clone is left under .orchestra/worktrees after the next cycle."""
        assert crash.worktrees_after_cycle == []

    def test_no_agent_left(self, crash: Crash) -> None:
        """No demo-agent process of this project is alive after the next cycle."""
        assert crash.agents_after_cycle == []


class TestRecoveryAlone:
    """Recovery cleans up even when the recovered task does not run again in that cycle."""

    def test_recovered_without_running(self, crash: Crash) -> None:
        """A plan-only cycle recovers the dead claim too (on a copy of the crashed project)."""
        assert crash.recovery_only["recovered"] == ["task-01.md"]
        assert crash.recovery_only["tasks"] == []

    def test_orphan_clone_removed(self, crash: Crash) -> None:
        """The dead run's clone is removed by recovery, not only by re-running its task."""
        assert crash.worktrees_after_recovery_only == []


@dataclass
class Orphan:
    """An agent left running by a cycle that was SIGKILLed alone, and the next cycle's effect."""

    project: Path
    agents_after_kill: list[int] = field(default_factory=list)
    agents_after_next_cycle: list[int] = field(default_factory=list)
    state: Any = None


@pytest.fixture(scope="module")
def orphan(
    prefect_api: str,
    new_demo: Callable[[Path], Path],
    demo_task: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Orphan]:
    """SIGKILL only the cycle's process group (the agent runs in its own session), then recover."""
    from flows.cycle import infinite_orchestra

    base = tmp_path_factory.mktemp("orphan")
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith(("ORCHESTRA_", "DEMO_AGENT_"))]:
            env.delenv(name)
        env.setenv("XDG_CONFIG_HOME", str(base / "xdg"))
        project = new_demo(base / "demo")
        queue_tasks(project, demo_task, "multiply")
        environ = dict(os.environ, PREFECT_API_URL=prefect_api, DEMO_AGENT_SLEEP="120")
        log = base / "killed-cycle.log"
        proc = spawn_cycle(project, log, environ)
        cycle = CycleProcess(proc, log)
        told = Orphan(project)
        try:
            cycle.wait_until("the agent runs", lambda: agent_pids(project), timeout=90)
            kill_group(proc.pid)
            proc.wait(timeout=30)
            told.agents_after_kill = agent_pids(project)
            told.state = infinite_orchestra(project=str(project), plan_only=True, return_state=True)
            told.agents_after_next_cycle = agent_pids(project)
            yield told
        finally:
            kill_group(proc.pid)
            for pid in agent_pids(project):
                kill_group(os.getpgid(pid))


class TestOrphanedAgent:
    """A step process outlives a SIGKILLed cycle (own session); the next cycle stops it."""

    def test_agent_outlives_killed_cycle(self, orphan: Orphan) -> None:
        """Killing the cycle's process group alone leaves its agent running (the case to handle)."""
        assert orphan.agents_after_kill

    def test_next_cycle_stops_orphan(self, orphan: Orphan) -> None:
        """The next cycle kills the orphaned agent working in the dead run's clone."""
        assert orphan.state.is_completed(), orphan.state.message
        assert orphan.agents_after_next_cycle == []

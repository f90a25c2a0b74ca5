"""The rules that keep an unattended cycle from doing harm, seen through the real flow.

Cycles run in process against the session's Prefect API (``run_cycle``) or as
``python -m flows.run`` subprocesses (``start_cycle``), on fresh demo repositories.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ops24_support import (
    ORCHESTRA_EMAIL,
    REPO,
    agent_pids,
    cycle_json,
    front_matter,
    git,
    outcome,
    queue_tasks,
    running_step,
    step_rows,
    task_files,
    task_report,
)

pytestmark = pytest.mark.prefect

BIN = Path(sys.executable).parent
IDLE_MINUTES = "ORCHESTRA_WORKFLOWS__TRIGGERS__INFINITE_ORCHESTRA__IDLE_MINUTES"


def snapshot_queue(project: Path) -> dict[str, bytes]:
    """Every file under the queue folders, by relative path, with its bytes."""
    root = project / ".orchestra"
    folders = ("queue", "running", "done", "failed", "rejected")
    return {
        str(p.relative_to(root)): p.read_bytes()
        for folder in folders
        if (root / folder).is_dir()
        for p in sorted((root / folder).rglob("*"))
        if p.is_file()
    }


def cycles_started(project: Path) -> int:
    """Lines in the daily cycle log."""
    log = project / ".orchestra" / "cycles.log"
    return len(log.read_text(encoding="utf-8").splitlines()) if log.is_file() else 0


def backdate_history(project: Path, hours: int = 2) -> None:
    """Rewrite the demo's commit as made ``hours`` ago (the human has been away since)."""
    when = f"{int(time.time()) - hours * 3600} +0000"
    env = {"GIT_COMMITTER_DATE": when, "PATH": "/usr/bin:/bin", "HOME": str(project)}
    git(project, "commit", "--amend", "--no-edit", "--quiet", f"--date={when}", env=env)


def orchestra_commit(project: Path) -> None:
    """A fresh commit authored and committed by Orchestra's identity."""
    ident = ["-c", "user.name=Orchestra", "-c", f"user.email={ORCHESTRA_EMAIL}"]
    git(project, *ident, "commit", "--quiet", "--allow-empty", "-m", "orchestra: merged result")


@pytest.fixture
def queued(project: Path, demo_task: Callable[[str], str]) -> Path:
    """The demo project with one task queued (so a cycle need not plan)."""
    queue_tasks(project, demo_task, "multiply")
    return project


class TestIdleGate:
    """A scheduled cycle skips while a human works in the checkout; an ad-hoc one does not."""

    def test_uncommitted_change_skips(self, queued: Path, run_cycle: Callable[..., Any]) -> None:
        """An uncommitted edit makes a scheduled cycle Skipped ('uncommitted'), queue untouched."""
        ops = queued / "calc" / "ops.py"
        ops.write_text(ops.read_text(encoding="utf-8") + "# wip\n", encoding="utf-8")
        backdate_history(queued)
        before = snapshot_queue(queued)
        state = run_cycle(queued, scheduled=True)
        assert state.name == "Skipped"
        assert "uncommitted" in (state.message or "")
        assert snapshot_queue(queued) == before
        assert cycles_started(queued) == 0

    def test_recent_human_commit_skips(self, queued: Path, run_cycle: Callable[..., Any]) -> None:
        """A commit by a human within idle_minutes makes a scheduled cycle Skipped."""
        before = snapshot_queue(queued)
        state = run_cycle(queued, scheduled=True)
        assert state.name == "Skipped"
        assert "a commit by demo@example.com" in (state.message or "")
        assert snapshot_queue(queued) == before

    def test_only_orchestra_commits_runs(self, queued: Path, run_cycle: Callable[..., Any]) -> None:
        """Recent commits by Orchestra only, old human commits and a clean tree: the cycle runs."""
        backdate_history(queued)
        orchestra_commit(queued)
        state = run_cycle(queued, scheduled=True, plan_only=True)
        assert state.name != "Skipped", state.message
        assert state.is_completed(), state.message
        assert cycles_started(queued) == 1

    def test_self_improve_uses_its_own_idle_rule(
        self, queued: Path, run_cycle: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """trigger=self_improve_on_idle reads that trigger's idle_minutes, not the cycle's."""
        monkeypatch.setenv("ORCHESTRA_WORKFLOWS__TRIGGERS__SELF_IMPROVE_ON_IDLE__IDLE_MINUTES", "0")
        state = run_cycle(queued, scheduled=True, plan_only=True, trigger="self_improve_on_idle")
        assert state.name != "Skipped", state.message
        gated = run_cycle(queued, scheduled=True, plan_only=True)
        assert gated.name == "Skipped"
        assert "a commit by demo@example.com" in (gated.message or "")

    def test_ad_hoc_not_gated(self, queued: Path, run_cycle: Callable[..., Any]) -> None:
        """An ad-hoc cycle (scheduled=False) runs despite uncommitted changes and a fresh commit."""
        (queued / "notes.txt").write_text("my unsaved thoughts\n", encoding="utf-8")
        state = run_cycle(queued, scheduled=False, plan_only=True)
        assert state.name != "Skipped", state.message
        assert state.is_completed(), state.message
        assert cycles_started(queued) == 1


@pytest.fixture
def lock_holder(queued: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the project's cycle lock until its stdin closes."""
    code = (
        "import sys\nfrom pathlib import Path\nfrom orchestra.policy.gates import cycle_lock\n"
        "with cycle_lock(Path(sys.argv[1])):\n    print('held', flush=True)\n    sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(queued)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


class TestCycleLock:
    """One cycle per project at a time."""

    def test_held_lock_skips(
        self, queued: Path, lock_holder: subprocess.Popen[str], run_cycle: Callable[..., Any]
    ) -> None:
        """While another process holds the lock, a cycle is Skipped naming the holder's pid."""
        before = snapshot_queue(queued)
        state = run_cycle(queued)
        assert state.name == "Skipped"
        assert f"already running (pid {lock_holder.pid}, since" in (state.message or "")
        assert snapshot_queue(queued) == before

    def test_lock_dies_with_holder(
        self, queued: Path, lock_holder: subprocess.Popen[str], run_cycle: Callable[..., Any]
    ) -> None:
        """A holder killed with SIGKILL leaves no stale lock: the next cycle runs."""
        lock_holder.send_signal(signal.SIGKILL)
        lock_holder.wait(timeout=10)
        state = run_cycle(queued, plan_only=True)
        assert state.is_completed(), state.message
        assert state.name != "Skipped"


class TestKillSwitch:
    """`.orchestra/STOP` stops cycles until `orchestra resume`."""

    def test_stop_file_skips(self, queued: Path, run_cycle: Callable[..., Any]) -> None:
        """With .orchestra/STOP present, even an ad-hoc cycle is Skipped and claims nothing."""
        (queued / ".orchestra" / "STOP").write_text("stopped\n", encoding="utf-8")
        before = snapshot_queue(queued)
        state = run_cycle(queued)
        assert state.name == "Skipped"
        assert "kill switch" in (state.message or "")
        assert snapshot_queue(queued) == before

    def test_stop_file_stops_task_flow(self, queued: Path) -> None:
        """A roocode-boomerang run of its own (deployment) with STOP set claims nothing."""
        from flows.boomerang import roocode_boomerang

        (queued / ".orchestra" / "STOP").write_text("stopped\n", encoding="utf-8")
        before = snapshot_queue(queued)
        task = queued / ".orchestra" / "queue" / "task-01.md"
        state = roocode_boomerang(project=str(queued), task_file=str(task), return_state=True)
        assert state.name == "Skipped", state.message
        assert "kill switch" in (state.message or "")
        assert snapshot_queue(queued) == before

    @pytest.mark.slow
    def test_stop_during_step(
        self,
        project: Path,
        demo_task: Callable[[str], str],
        start_cycle: Callable[..., Any],
    ) -> None:
        """`orchestra stop` ends the running step in seconds; its task is requeued without an
        attempt (an operator's stop is not the task's failure)."""
        queue_tasks(project, demo_task, "multiply", "divide")
        cycle = start_cycle(project, DEMO_AGENT_SLEEP="30")
        cycle.wait_until("a task step starts", lambda: running_step(project), timeout=90)
        cycle.wait_until("the agent runs", lambda: agent_pids(project), timeout=30)
        stopped_at = time.monotonic()
        stop = subprocess.run(
            [str(BIN / "orchestra"), "stop", "--project", str(project)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
        )
        assert stop.returncode == 0, stop.stderr
        cycle.wait(timeout=60)
        assert time.monotonic() - stopped_at < 15, cycle.output()[-3000:]
        assert agent_pids(project) == []
        assert task_files(project)["queue"] == ["task-01.md", "task-02.md"]
        assert "attempts" not in front_matter(project / ".orchestra" / "queue" / "task-01.md")
        report = task_report(project, "task-01")
        assert "stopped: kill switch" in report
        assert "**Failure kind:** operator" in report

    @pytest.mark.slow
    def test_stop_spares_the_rest_of_the_queue(
        self,
        project: Path,
        demo_task: Callable[[str], str],
        start_cycle: Callable[..., Any],
    ) -> None:
        """After `orchestra stop`, the cycle claims no further task: the next one keeps attempt 0."""
        queue_tasks(project, demo_task, "multiply", "divide")
        cycle = start_cycle(project, DEMO_AGENT_SLEEP="30")
        cycle.wait_until("a task step starts", lambda: running_step(project), timeout=90)
        (project / ".orchestra" / "STOP").write_text("stopped\n", encoding="utf-8")
        cycle.wait(timeout=60)
        task_02 = project / ".orchestra" / "queue" / "task-02.md"
        assert "attempts" not in front_matter(task_02), cycle.output()[-3000:]
        assert not list(project.glob(".orchestra/runs/*/task-02"))
        assert "; stopped: operator stop: " in cycle.output()
        assert "kill switch" in cycle.output()

    def test_resume_allows_cycles(self, queued: Path, run_cycle: Callable[..., Any]) -> None:
        """After `orchestra stop`, `orchestra resume` removes the kill switch: cycles run again."""
        for command in ("stop", "resume"):
            done = subprocess.run(
                [str(BIN / "orchestra"), command, "--project", str(queued)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env={k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
            )
            assert done.returncode == 0, done.stderr
        assert not (queued / ".orchestra" / "STOP").exists()
        state = run_cycle(queued, plan_only=True)
        assert state.is_completed(), state.message
        assert state.name != "Skipped"


class TestDailyBudget:
    """limits.max_cycles_per_day caps scheduled cycles per UTC day."""

    def test_second_cycle_skipped(
        self, queued: Path, ops_env: pytest.MonkeyPatch, run_cycle: Callable[..., Any]
    ) -> None:
        """With max_cycles_per_day 1, the second scheduled cycle of the day is Skipped."""
        ops_env.setenv("ORCHESTRA_LIMITS__MAX_CYCLES_PER_DAY", "1")
        ops_env.setenv(IDLE_MINUTES, "0")
        first = run_cycle(queued, scheduled=True, plan_only=True)
        assert first.is_completed(), first.message
        assert first.name != "Skipped"
        second = run_cycle(queued, scheduled=True, plan_only=True)
        assert second.name == "Skipped"
        assert "1 cycles already started today (limits.max_cycles_per_day 1)" in (
            second.message or ""
        )


class TestFailureLimits:
    """Failures stop a cycle early; a stuck step is killed."""

    @pytest.mark.slow
    def test_consecutive_failures_stop_cycle(
        self,
        project: Path,
        demo_task: Callable[[str], str],
        ops_env: pytest.MonkeyPatch,
        run_cycle: Callable[..., Any],
    ) -> None:
        """With max_consecutive_failures 1 and a failing coder, 1 of 2 tasks runs; the state says why."""
        queue_tasks(project, demo_task, "multiply", "divide")
        ops_env.setenv("ORCHESTRA_LIMITS__MAX_CONSECUTIVE_FAILURES", "1")
        ops_env.setenv("DEMO_AGENT_FAIL_ROLE", "coder")
        state = run_cycle(project)
        assert state.is_failed()
        assert "1 consecutive failures since" in (state.message or "")
        assert "(limits.max_consecutive_failures 1)" in (state.message or "")
        assert [t["task"] for t in cycle_json(project, state)["tasks"]] == ["task-01"]
        queue = project / ".orchestra" / "queue"
        assert front_matter(queue / "task-01.md")["attempts"] == 1
        assert "attempts" not in front_matter(queue / "task-02.md")

    @pytest.mark.slow
    def test_task_wall_clock(
        self,
        queued: Path,
        ops_env: pytest.MonkeyPatch,
        run_cycle: Callable[..., Any],
    ) -> None:
        """limits.task_wall_clock 3 kills a 10 s step: the task fails with a timeout, no process left."""
        ops_env.setenv("ORCHESTRA_LIMITS__TASK_WALL_CLOCK", "3")
        ops_env.setenv("DEMO_AGENT_SLEEP", "10")
        state = run_cycle(queued)
        assert state.is_failed()
        result = outcome(queued, "task-01")
        assert result["status"] == "failed"
        assert "timeout: timed out after 3 s" in result["reason"]
        [step] = step_rows(task_report(queued, "task-01"))
        assert step["status"] == "timeout"
        assert float(step["duration"].removesuffix("s")) < 8, "the step was not cut short"
        assert agent_pids(queued) == []


class TestCostBudget:
    """limits.max_cost_usd_per_cycle stops a cycle from taking more tasks."""

    @pytest.mark.slow
    def test_budget_reached_stops_taking_tasks(
        self,
        project: Path,
        demo_task: Callable[[str], str],
        ops_env: pytest.MonkeyPatch,
        run_cycle: Callable[..., Any],
    ) -> None:
        """With a budget of $0, the cycle takes no task after the first; the state says why."""
        queue_tasks(project, demo_task, "multiply", "divide")
        ops_env.setenv("ORCHESTRA_LIMITS__MAX_COST_USD_PER_CYCLE", "0")
        state = run_cycle(project)
        assert state.is_completed(), state.message
        assert "stopped: agents reported $0.00 this cycle (limits.max_cost_usd_per_cycle 0)" in (
            state.message or ""
        )
        assert [t["task"] for t in cycle_json(project, state)["tasks"]] == ["task-01"]
        assert task_files(project)["queue"] == ["task-02.md"]

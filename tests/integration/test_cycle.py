"""The cycle flow's rules, run in process against a real Prefect API on the demo project.

Each test prepares the queue on disk, runs ``infinite_orchestra`` once and reads back the
state, the folders and (where it matters) the runs the Prefect API recorded.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestra.errors import CycleError
from orchestra.queue.taskfile import split_front_matter

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

TaskText = Callable[[str], str]
#: What the demo planner looks for: with these committed it finds nothing to do.
MISSING_OPS = """

def multiply(a, b):
    return a * b


def divide(a, b):
    if b == 0:
        raise ValueError("division by zero")
    return a / b
"""


def run_cycle(project: Path, **params: Any) -> Any:
    """One cycle of ``project``; its final state."""
    from flows.cycle import infinite_orchestra

    return infinite_orchestra(project=str(project), return_state=True, **params)


def orchestra_dir(project: Path, name: str) -> Path:
    """A folder of the default queue layout."""
    return project / ".orchestra" / name


def names(folder: Path) -> list[str]:
    """File names in ``folder``, sorted ([] when it does not exist)."""
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def enqueue(project: Path, name: str, text: str) -> Path:
    """Put a task file into the project's queue."""
    queue = orchestra_dir(project, "queue")
    queue.mkdir(parents=True, exist_ok=True)
    path = queue / name
    path.write_text(text, encoding="utf-8")
    return path


def run_dir(project: Path, state: Any) -> Path:
    """The cycle's folder of prompts, outputs and reports."""
    return orchestra_dir(project, "runs") / str(state.state_details.flow_run_id)


def subflows(reader: Any, state: Any) -> dict[str, list[Any]]:
    """The cycle's subflow runs, grouped by flow name."""
    grouped: dict[str, list[Any]] = {}
    for run in reader.flow_runs(parent=state.state_details.flow_run_id):
        grouped.setdefault(reader.flow_name(run), []).append(run)
    return grouped


def attempts(path: Path) -> object:
    """The `attempts` value of a task file's front matter (None when absent)."""
    return split_front_matter(path.read_text(encoding="utf-8"))[0].get("attempts")


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


class TestPlanning:
    """The planner runs only when the queue is empty."""

    def test_no_planning_with_a_queued_task(
        self, prefect_reader: Any, demo_project: Path, demo_task: TaskText
    ) -> None:
        """A queued valid task runs without any planner flow run or staging folder."""
        enqueue(demo_project, "task-01.md", demo_task("multiply"))
        state = run_cycle(demo_project)
        assert state.is_completed(), state.message
        data = state.result()
        assert data["planned"] == []
        assert state.message.startswith("planned 0, ran 1, archived 1")
        assert "infinite-orchestra-plan" not in subflows(prefect_reader, state)
        assert not (run_dir(demo_project, state) / "planner").exists()

    def test_empty_queue_after_planning_fails(
        self, prefect_reader: Any, demo_project: Path
    ) -> None:
        """When the planner finds nothing to do, the cycle fails naming the empty queue."""
        ops = demo_project / "calc" / "ops.py"
        ops.write_text(ops.read_text(encoding="utf-8") + MISSING_OPS, encoding="utf-8")
        git = ["git", "-c", "commit.gpgsign=false", "commit", "-qam", "add multiply and divide"]
        subprocess.run(git, cwd=demo_project, check=True)
        queue = demo_project.resolve() / ".orchestra" / "queue"
        expected = f'No task files found in "{queue}"'

        state = run_cycle(demo_project)

        assert state.is_failed()
        assert expected in (state.message or "")
        with pytest.raises(CycleError) as caught:
            state.result()
        assert str(caught.value) == expected
        assert names(queue) == []
        assert names(orchestra_dir(demo_project, "rejected")) == []
        [plan] = subflows(prefect_reader, state)["infinite-orchestra-plan"]
        assert plan.state.is_completed()


class TestTaking:
    """Which queued files the cycle takes."""

    def test_max_tasks_limits_the_cycle(
        self, prefect_api: str, demo_project: Path, demo_task: TaskText
    ) -> None:
        """With three tasks queued and max_tasks=1, one is archived and two stay queued."""
        for n, name in enumerate(("multiply", "divide", "multiply"), start=1):
            enqueue(demo_project, f"task-0{n}.md", demo_task(name))
        state = run_cycle(demo_project, max_tasks=1)
        assert state.is_completed(), state.message
        archived = names(orchestra_dir(demo_project, "done"))
        assert len(archived) == 1
        assert archived[0].startswith("task-01-")
        assert names(orchestra_dir(demo_project, "queue")) == ["task-02.md", "task-03.md"]

    def test_malformed_and_oversize_are_quarantined(
        self, prefect_api: str, demo_project: Path, demo_task: TaskText
    ) -> None:
        """A file without Goal and one over 12000 chars go to rejected/ with reasons; the valid one runs."""
        no_goal = demo_task("divide").replace("# Goal", "# Purpose")
        oversize = demo_task("divide") + "\n" + ("x" * 79 + "\n") * 160
        assert len(oversize) > 12_000
        enqueue(demo_project, "task-01.md", no_goal)
        enqueue(demo_project, "task-02.md", oversize)
        enqueue(demo_project, "task-03.md", demo_task("multiply"))

        state = run_cycle(demo_project)

        assert state.is_completed(), state.message
        rejected = orchestra_dir(demo_project, "rejected")
        assert names(rejected) == [
            "task-01.md",
            "task-01.reason.txt",
            "task-02.md",
            "task-02.reason.txt",
        ]
        assert "goal" in (rejected / "task-01.reason.txt").read_text(encoding="utf-8").lower()
        assert "12000" in (rejected / "task-02.reason.txt").read_text(encoding="utf-8")
        assert (rejected / "task-02.md").read_text(encoding="utf-8") == oversize
        archived = names(orchestra_dir(demo_project, "done"))
        assert [n[:7] for n in archived] == ["task-03"]
        assert [t["task"] for t in state.result()["tasks"]] == ["task-03"]
        assert state.message == "planned 0, ran 1, archived 1, failed 0, rejected 2"


class TestFailure:
    """A task that does not pass review."""

    def test_rejected_task_goes_back_to_the_queue(
        self,
        prefect_reader: Any,
        demo_project: Path,
        demo_task: TaskText,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A reviewer repeating the same CHANGES_REQUESTED review ends the task as a loop before
        max_steps; it is requeued with attempts 1 and the cycle fails."""
        monkeypatch.setenv("DEMO_AGENT_REJECT", "1")
        overlay = tmp_path / "steps.yaml"
        overlay.write_text("workflows:\n  roocode_boomerang:\n    max_steps: 5\n", encoding="utf-8")
        enqueue(demo_project, "task-01.md", demo_task("multiply"))

        state = run_cycle(demo_project, config_files=[str(overlay)])

        assert state.is_failed()
        assert "\n" not in state.message
        assert state.message == (
            "cycle finished with failures: planned 0, ran 1, archived 0, failed 1, rejected 0"
        )
        requeued = orchestra_dir(demo_project, "queue") / "task-01.md"
        assert attempts(requeued) == 1
        assert names(orchestra_dir(demo_project, "done")) == []
        report = run_dir(demo_project, state) / "task-01" / "report.md"
        text = report.read_text(encoding="utf-8")
        assert "review gave the same CHANGES_REQUESTED review as in its previous round" in text
        assert "CHANGES_REQUESTED" in text

        [boomerang] = subflows(prefect_reader, state)["roocode-boomerang"]
        assert boomerang.state.is_failed()
        steps = [t.name for t in prefect_reader.task_runs(boomerang.id)]
        assert steps == [
            "task-01 · plan (architect)",
            "task-01 · implement (coder)",
            "task-01 · review (reviewer)",
            "task-01 · fix (fixer)",
            "task-01 · review (reviewer)",
        ]

    def test_review_without_verdict_shows_failed(
        self, prefect_reader: Any, demo_project: Path, demo_task: TaskText, tmp_path: Path
    ) -> None:
        """A reviewer that ends without a verdict fails the task, and its step's task run says
        Failed in the UI (it said Completed) with the reason; the steps before stay Completed."""
        overlay = tmp_path / "reviewer.yaml"
        overlay.write_text(
            "workers:\n  reviewer:\n    command: [python3, -c, \"print('## Summary\\\\nLooks fine.')\"]\n",
            encoding="utf-8",
        )
        enqueue(demo_project, "task-01.md", demo_task("multiply"))

        state = run_cycle(demo_project, config_files=[str(overlay)])

        assert state.is_failed(), state.message
        [boomerang] = subflows(prefect_reader, state)["roocode-boomerang"]
        assert "gave no verdict" in (boomerang.state.message or ""), boomerang.state.message
        steps = {t.name: t.state for t in prefect_reader.task_runs(boomerang.id)}
        review = steps.pop("task-01 · review (reviewer)")
        assert review.is_failed(), review
        assert "gave no verdict" in (review.message or ""), review.message
        assert all(s.is_completed() for s in steps.values()), steps


class TestRecovery:
    """Claims left behind by a run that died."""

    def test_dead_claim_is_requeued_and_run(
        self, prefect_api: str, demo_project: Path, demo_task: TaskText
    ) -> None:
        """A running task claimed by a dead pid on this host is requeued (attempts 1) and run."""
        running = orchestra_dir(demo_project, "running")
        running.mkdir(parents=True)
        (running / "task-01.md").write_text(demo_task("divide"), encoding="utf-8")
        claim = {
            "run_id": "crashed-run",
            "host": socket.gethostname(),
            "pid": dead_pid(),
            "claimed_at": "2026-01-06T12:34:56.789Z",
        }
        (running / "task-01.claim.json").write_text(json.dumps(claim), encoding="utf-8")

        state = run_cycle(demo_project)

        assert state.is_completed(), state.message
        data = state.result()
        assert data["recovered"] == ["task-01.md"]
        assert data["planned"] == []
        assert [(t["task"], t["status"]) for t in data["tasks"]] == [("task-01", "done")]
        assert names(running) == []
        [archived] = orchestra_dir(demo_project, "done").iterdir()
        assert attempts(archived) == 1


class TestStepBudget:
    def test_running_out_of_max_steps_before_review_fails_the_task(
        self, demo_project: Path, demo_task: Callable[[str], str]
    ) -> None:
        """max_steps 2 (plan, implement; no review): the task fails, nothing is integrated."""
        from orchestra.engine.step import run_step
        from orchestra.engine.task import run_task
        from orchestra.project import open_project
        from orchestra.queue.taskfile import parse_task
        from orchestra.runtime.process import ProcessRuntime

        (demo_project / "orchestra.local.yaml").write_text(
            "workflows: {roocode_boomerang: {max_steps: 2}}\n", encoding="utf-8"
        )
        task_file = demo_project / "task-01.md"
        task_file.write_text(demo_task("multiply"), encoding="utf-8")
        project = open_project(demo_project)
        runtime = ProcessRuntime(kill_grace=0.5)
        outcome = run_task(
            project,
            parse_task(task_file),
            run_id="r",
            runner=lambda ctx: run_step(ctx, runtime),
            run_dir=tmp_run_dir(demo_project),
        )
        assert outcome.status == "failed"
        assert "max_steps 2 reached" in outcome.reason
        assert [r.step for r in outcome.steps] == ["plan", "implement"]
        assert outcome.branch is None


def tmp_run_dir(project: Path) -> Path:
    return project / ".orchestra" / "runs" / "test" / "task-01"

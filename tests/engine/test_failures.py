"""Failures in three kinds: only the task's own failures cost an attempt.

The engine runs with a scripted runner; the queue, the clone and git are real.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from orchestra.engine.failures import exception_failure_class, step_failure_class
from orchestra.engine.settle import finish
from orchestra.engine.step import StepContext, StepRecord
from orchestra.engine.summary import CycleSummary
from orchestra.engine.task import TaskOutcome, run_task
from orchestra.errors import AgentNotInstalledError, RuntimeUnavailableError
from orchestra.project import Project, open_project
from orchestra.report.markdown import task_markdown
from orchestra.testing import ScriptedRunner

PLAN = "## Summary\nplan it\n"


def _attempts(path: Path) -> int | None:
    front = yaml.safe_load(path.read_text(encoding="utf-8").split("---\n", 2)[1]) or {}
    value = front.get("attempts")
    return value if isinstance(value, int) else None


def _settle(
    demo_project: Path,
    demo_task: Callable[[str], str],
    runner: Callable[[StepContext], StepRecord],
    tmp_path: Path,
) -> tuple[Project, TaskOutcome, Path]:
    project = open_project(demo_project)
    queued = project.layout.queue / "task-01.md"
    queued.parent.mkdir(parents=True, exist_ok=True)
    queued.write_text(demo_task("multiply"), encoding="utf-8")
    claimed = project.queue.claim(queued, run_id="r")
    assert claimed is not None
    outcome = run_task(project, claimed.task, run_id="r", runner=runner, run_dir=tmp_path / "run")
    where = finish(project.queue, claimed, outcome, task_markdown(outcome))
    return project, outcome, where


class TestKinds:
    @pytest.mark.parametrize(
        ("status", "failure", "kind"),
        [
            ("failed", "error", "task"),
            ("timeout", "timeout", "task"),
            ("failed", "auth", "infrastructure"),
            ("failed", "credentials", "infrastructure"),
            ("failed", "unreachable", "infrastructure"),
            ("failed", "configuration", "infrastructure"),
            ("failed", "environment", "infrastructure"),
            ("stopped", None, "operator"),
        ],
    )
    def test_step_kinds(self, status: str, failure: str | None, kind: str) -> None:
        """Each adapter failure kind maps to one of the three: the agent's own, the machine's, a stop."""
        record = StepRecord(
            "t", "implement", "I", "coder", status, 0.0, None, "", "", failure=failure
        )  # type: ignore[arg-type]
        assert step_failure_class(record) == kind

    @pytest.mark.parametrize(
        ("exc", "kind"),
        [
            (RuntimeUnavailableError("Docker engine unreachable"), "infrastructure"),
            (AgentNotInstalledError("image lacks opencode"), "infrastructure"),
            (OSError(errno.ENOSPC, "No space left on device"), "infrastructure"),
            (ValueError("a bug of ours"), "task"),
        ],
    )
    def test_exception_kinds(self, exc: BaseException, kind: str) -> None:
        """Docker down, image missing and a full disk are the machine's; anything else the task's."""
        assert exception_failure_class(exc) == kind


class TestAttempts:
    def test_task_failure_costs_an_attempt(
        self, demo_project: Path, demo_task: Callable[[str], str], tmp_path: Path
    ) -> None:
        """A coder that fails on its own: the task goes back with attempts 1, kind task."""
        runner = ScriptedRunner([PLAN, ("failed", "exit code 1: tests fail")])
        project, outcome, where = _settle(demo_project, demo_task, runner, tmp_path)
        assert outcome.kind == "task"
        assert where == project.layout.queue / "task-01.md"
        assert _attempts(where) == 1

    def test_refused_key_costs_no_attempt(
        self, demo_project: Path, demo_task: Callable[[str], str], tmp_path: Path
    ) -> None:
        """The model API refusing the key (401) requeues the task as it was: no attempt."""
        runner = ScriptedRunner([PLAN, ("failed", "claude: authentication failed (401)")])
        project, outcome, where = _settle(demo_project, demo_task, runner, tmp_path)
        assert outcome.kind == "infrastructure"
        assert where == project.layout.queue / "task-01.md"
        assert _attempts(where) is None
        assert not list(project.layout.running.iterdir())

    def test_operator_stop_costs_no_attempt(
        self, demo_project: Path, demo_task: Callable[[str], str], tmp_path: Path
    ) -> None:
        """A step stopped by the kill switch requeues its task without an attempt."""
        runner = ScriptedRunner([PLAN, ("stopped", "kill switch '.orchestra/STOP' is set")])
        _, outcome, where = _settle(demo_project, demo_task, runner, tmp_path)
        assert outcome.kind == "operator"
        assert _attempts(where) is None
        assert "**Failure kind:** operator" in task_markdown(outcome)

    def test_docker_down_costs_no_attempt(
        self, demo_project: Path, demo_task: Callable[[str], str], tmp_path: Path
    ) -> None:
        """A runtime that cannot reach Docker mid-task: infrastructure, requeued, no attempt."""

        def docker_down(ctx: StepContext) -> StepRecord:
            raise RuntimeUnavailableError("cannot reach the Docker engine at unix:///nowhere")

        _, outcome, where = _settle(demo_project, demo_task, docker_down, tmp_path)
        assert outcome.kind == "infrastructure"
        assert "Docker engine" in outcome.reason
        assert _attempts(where) is None

    def test_requeue_into_a_taken_name_keeps_both(
        self, demo_project: Path, demo_task: Callable[[str], str], tmp_path: Path
    ) -> None:
        """If queue/ got a file of the same name meanwhile, nothing is overwritten or lost."""
        project = open_project(demo_project)
        queued = project.layout.queue / "task-01.md"
        queued.parent.mkdir(parents=True, exist_ok=True)
        queued.write_text(demo_task("multiply"), encoding="utf-8")
        claimed = project.queue.claim(queued, run_id="r")
        assert claimed is not None
        queued.write_text(demo_task("divide"), encoding="utf-8")
        where = project.queue.requeue(claimed, reason="outage")
        assert where.parent == project.layout.failed
        assert "divide" in queued.read_text(encoding="utf-8")
        assert "multiply" in where.read_text(encoding="utf-8")


class TestSummary:
    def test_headline_names_the_kinds(self) -> None:
        """The cycle's headline and dict count failures per kind."""
        summary = CycleSummary("p", "q", "r")
        summary.tasks = [
            {"task": "a", "status": "failed", "kind": "task"},
            {"task": "b", "status": "failed", "kind": "infrastructure"},
        ]
        assert "failed 2" in summary.headline()
        assert "(infrastructure 1, task 1)" in summary.headline()
        assert summary.to_dict()["failed_by_kind"] == {"task": 1, "infrastructure": 1}

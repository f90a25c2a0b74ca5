"""The task engine with a scripted runner: the workflow, loops and failures, without processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.engine.task import run_task
from orchestra.project import open_project
from orchestra.queue.taskfile import parse_task
from orchestra.testing import ScriptedRunner, ScriptExhaustedError

PLAN = "## Summary\nplan it\n"
APPROVE = "## Summary\nlooks good\n\nVerdict: APPROVE\n"
CHANGES = "## Summary\nthe divide by zero case is missing\n\nVerdict: CHANGES_REQUESTED\n"


@pytest.fixture
def task_file(demo_project: Path, demo_task: object) -> Path:
    path = demo_project / "task-01.md"
    path.write_text(demo_task(), encoding="utf-8")  # type: ignore[operator]
    return path


def _run(project_dir: Path, task_file: Path, runner: ScriptedRunner, tmp_path: Path) -> object:
    project = open_project(project_dir)
    task = parse_task(task_file)
    return run_task(project, task, run_id="r", runner=runner, run_dir=tmp_path / "run")


class TestRunTask:
    def test_terse_agents_that_agree_are_not_a_loop(
        self, demo_project: Path, task_file: Path, tmp_path: Path
    ) -> None:
        """plan and implement both answering "ok" reach the review and the task is done."""
        runner = ScriptedRunner(["ok", "ok", APPROVE, "ok"])  # the last answers the verify gate
        outcome = _run(demo_project, task_file, runner, tmp_path)
        assert runner.step_ids[:3] == ["plan", "implement", "review"]
        assert outcome.status == "done", outcome.reason  # type: ignore[attr-defined]

    def test_the_same_review_twice_ends_the_task_as_a_loop(
        self, demo_project: Path, task_file: Path, tmp_path: Path
    ) -> None:
        """review → fix → review with the same CHANGES_REQUESTED fails the task before max_steps."""
        runner = ScriptedRunner(
            [PLAN, "## Summary\ncoded\n", CHANGES, "## Summary\nfixed\n", CHANGES]
        )
        outcome = _run(demo_project, task_file, runner, tmp_path)
        assert runner.step_ids == ["plan", "implement", "review", "fix", "review"]
        assert outcome.status == "failed"  # type: ignore[attr-defined]
        assert "same CHANGES_REQUESTED review" in outcome.reason  # type: ignore[attr-defined]

    def test_a_failed_step_ends_the_task_with_its_reason(
        self, demo_project: Path, task_file: Path, tmp_path: Path
    ) -> None:
        """A coder step that fails stops the workflow there, with the step's own message."""
        runner = ScriptedRunner([PLAN, ("failed", "model API said 401")])
        outcome = _run(demo_project, task_file, runner, tmp_path)
        assert runner.step_ids == ["plan", "implement"]
        assert "401" in outcome.reason  # type: ignore[attr-defined]


class TestScriptedRunner:
    def test_running_past_the_script_is_a_named_error(self, implement_step: object) -> None:
        """Asking for more steps than scripted raises ScriptExhaustedError, not IndexError."""
        from orchestra.config.models import WorkerProfile

        runner = ScriptedRunner([])
        ctx = implement_step(WorkerProfile(role="coder", runtime="process"))  # type: ignore[operator]
        with pytest.raises(ScriptExhaustedError, match="step 1 of 0"):
            runner(ctx)

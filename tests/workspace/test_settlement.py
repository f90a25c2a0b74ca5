"""A task's result branch is written once; a retry that finds its own result does not run the
agents again; a branch of the task's name that is not ours stops it; git errors say why; the
repository shapes a task clone cannot serve are refused in preflight."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orchestra.engine.step import StepContext, StepRecord
from orchestra.engine.task import TaskOutcome, run_task
from orchestra.errors import ProjectError
from orchestra.project import open_project
from orchestra.queue.taskfile import parse_task
from orchestra.testing import ScriptedRunner
from orchestra.workspace.git import git
from orchestra.workspace.shape import check_shape, unsupported_shape

APPROVE = "## Summary\nlooks good\n\nVerdict: APPROVE\n"
BRANCH = "orchestra/task-01"


@dataclass
class WritingRunner:
    """Scripted answers; the implement step also writes a file, as a coder would."""

    script: ScriptedRunner = field(
        default_factory=lambda: ScriptedRunner(["ok", "ok", APPROVE, "ok"])
    )

    def __call__(self, ctx: StepContext) -> StepRecord:
        if ctx.step_id == "implement":
            (ctx.workspace / "feature.txt").write_text("made by the coder\n", encoding="utf-8")
        return self.script(ctx)


@pytest.fixture
def task_file(demo_project: Path, demo_task: object) -> Path:
    path = demo_project / "task-01.md"
    path.write_text(demo_task(), encoding="utf-8")  # type: ignore[operator]
    return path


def _run(project_dir: Path, task_file: Path, runner: object, run_dir: Path) -> TaskOutcome:
    project = open_project(project_dir)
    return run_task(project, parse_task(task_file), run_id="r", runner=runner, run_dir=run_dir)  # type: ignore[arg-type]


class TestRetryAfterCrash:
    def test_a_retry_finds_its_own_result_and_runs_no_agent(
        self, demo_project: Path, task_file: Path, tmp_path: Path
    ) -> None:
        """The first run wrote orchestra/task-01 and 'died' before settling; the retry is done
        at once with that commit, and no step runs (an empty script would raise)."""
        first = _run(demo_project, task_file, WritingRunner(), tmp_path / "run1")
        assert first.status == "done", first.reason
        tip = git(demo_project, "rev-parse", BRANCH)
        assert first.commit == tip
        idle = ScriptedRunner([])
        retry = _run(demo_project, task_file, idle, tmp_path / "run2")
        assert retry.status == "done", retry.reason
        assert idle.step_ids == []
        assert retry.commit == tip
        assert "agents not run again" in retry.reason
        assert git(demo_project, "rev-parse", BRANCH) == tip

    def test_a_branch_the_task_did_not_make_refuses_it_before_any_step(
        self, demo_project: Path, task_file: Path, tmp_path: Path
    ) -> None:
        """A user's own orchestra/task-01 is never overwritten: the task fails with the reason."""
        git(demo_project, "branch", BRANCH, "HEAD")
        mine = git(demo_project, "rev-parse", BRANCH)
        idle = ScriptedRunner([])
        outcome = _run(demo_project, task_file, idle, tmp_path / "run")
        assert outcome.status == "failed"
        assert idle.step_ids == []
        assert f"branch {BRANCH} already exists" in outcome.reason
        assert "git branch -m" in outcome.reason
        assert git(demo_project, "rev-parse", BRANCH) == mine

    def test_another_tasks_result_under_the_same_number_is_refused(
        self, demo_project: Path, task_file: Path, tmp_path: Path
    ) -> None:
        """A result of an earlier task-01 with other text is not taken for this task's result."""
        assert _run(demo_project, task_file, WritingRunner(), tmp_path / "r1").status == "done"
        task_file.write_text(
            task_file.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8"
        )
        outcome = _run(demo_project, task_file, ScriptedRunner([]), tmp_path / "r2")
        assert outcome.status == "failed"
        assert "another task's text" in outcome.reason


class TestGitErrorsCarryGitsMessage:
    def test_a_failed_fetch_says_what_git_said(self, demo_project: Path, tmp_path: Path) -> None:
        """No `--quiet` swallowing the reason: the error holds git's own stderr."""
        with pytest.raises(ProjectError, match="does not appear to be a git repository"):
            git(demo_project, "fetch", str(tmp_path / "nowhere"), "main")


def _sh(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


class TestRepositoryShapes:
    def test_the_demo_is_fine(self, demo_project: Path) -> None:
        assert unsupported_shape(demo_project, "HEAD") is None

    def test_submodules_refused(self, demo_project: Path, tmp_path: Path) -> None:
        """A gitlink in the base tree is refused with the reason and the way out."""
        sub = tmp_path / "sub"
        _sh(tmp_path, "init", "-q", "-b", "main", str(sub))
        _sh(
            sub,
            "-c",
            "user.name=u",
            "-c",
            "user.email=u@x",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "s",
        )
        _sh(
            demo_project,
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            str(sub),
            "vendor/sub",
        )
        _sh(demo_project, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "sub")
        with pytest.raises(ProjectError, match=r"has submodules \(vendor/sub\)"):
            check_shape(demo_project, "HEAD")

    def test_lfs_refused(self, demo_project: Path) -> None:
        (demo_project / "assets").mkdir()
        (demo_project / "assets" / ".gitattributes").write_text(
            "*.bin filter=lfs diff=lfs merge=lfs -text\n"
        )
        _sh(demo_project, "add", "assets/.gitattributes")
        _sh(demo_project, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "lfs")
        reason = unsupported_shape(demo_project, "HEAD")
        assert reason is not None
        assert "Git LFS (assets/.gitattributes sets filter=lfs)" in reason

    def test_partial_clone_refused(self, demo_project: Path, tmp_path: Path) -> None:
        clone = tmp_path / "partial"
        _sh(
            tmp_path,
            "-c",
            "uploadpack.allowFilter=true",
            "clone",
            "-q",
            "--filter=blob:none",
            f"file://{demo_project}",
            str(clone),
        )
        reason = unsupported_shape(clone, "HEAD")
        assert reason is not None
        assert "partial clone" in reason and "origin" in reason


class TestUserExcludes:
    def test_info_exclude_is_honoured_in_the_task(
        self, demo_project: Path, task_file: Path, tmp_path: Path
    ) -> None:
        """A file the user's .git/info/exclude ignores is not committed by the task."""
        exclude = demo_project / ".git" / "info" / "exclude"
        exclude.parent.mkdir(exist_ok=True)
        exclude.write_text(exclude.read_text() + "\n*.log\n" if exclude.exists() else "*.log\n")

        @dataclass
        class Logger(WritingRunner):
            def __call__(self, ctx: StepContext) -> StepRecord:
                (ctx.workspace / "debug.log").write_text("noise\n", encoding="utf-8")
                return super().__call__(ctx)

        outcome = _run(demo_project, task_file, Logger(), tmp_path / "run")
        assert outcome.status == "done", outcome.reason
        files = git(demo_project, "ls-tree", "-r", "--name-only", BRANCH).splitlines()
        assert "feature.txt" in files
        assert "debug.log" not in files

"""Tasks run in their own clones: the user's checkout never changes; results come back as refs.

Every cycle here is ad hoc (``scheduled=False``), in process, on a demo repository with one task
queued (add ``multiply``); the integration mode and base branch come from ORCHESTRA_GIT__*.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ops24_support import (
    ORCHESTRA_EMAIL,
    front_matter,
    git,
    outcome,
    queue_tasks,
    set_front_matter,
    step_rows,
    task_files,
    task_report,
    worktrees,
)

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

BRANCH = "orchestra/task-01"


@dataclass(frozen=True)
class Checkout:
    """Everything of the user's checkout a cycle could disturb."""

    files: dict[str, tuple[int, bytes]]
    index: bytes
    head_file: bytes
    head: str
    status: str

    @classmethod
    def of(cls, repo: Path) -> Checkout:
        status = git(repo, "status", "--porcelain", "--untracked-files=all")
        git(repo, "status", "--porcelain")  # the index is refreshed now: stable bytes below
        files = {
            str(p.relative_to(repo)): (stat.S_IMODE(p.lstat().st_mode), p.read_bytes())
            for p in sorted(repo.rglob("*"))
            if p.is_file() and not {".git", ".orchestra"} & set(p.relative_to(repo).parts)
        }
        return cls(
            files=files,
            index=(repo / ".git" / "index").read_bytes(),
            head_file=(repo / ".git" / "HEAD").read_bytes(),
            head=git(repo, "rev-parse", "HEAD"),
            status=status,
        )


def user_edits(repo: Path) -> None:
    """Work in progress the cycle must not touch: a modified, a staged and an untracked file."""
    readme = repo / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nmy unsaved note\n", encoding="utf-8")
    (repo / "scratch.txt").write_text("staged but not committed\n", encoding="utf-8")
    git(repo, "add", "scratch.txt")
    (repo / "notes.txt").write_text("untracked thoughts\n", encoding="utf-8")


@dataclass(frozen=True)
class BranchCycle:
    """A branch-mode cycle over a checkout with uncommitted work, and the checkout before it."""

    project: Path
    before: Checkout
    main_before: str
    state: Any


@pytest.fixture(scope="class")
def branch_cycle(
    prefect_api: str,
    new_demo: Callable[[Path], Path],
    demo_task: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BranchCycle]:
    """One cycle in the default integration mode (branch), with the user's edits in place."""
    from flows.cycle import infinite_orchestra

    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith(("ORCHESTRA_", "DEMO_AGENT_"))]:
            env.delenv(name)
        base = tmp_path_factory.mktemp("isolation")
        env.setenv("XDG_CONFIG_HOME", str(base / "xdg"))
        project = new_demo(base / "demo")
        queue_tasks(project, demo_task, "multiply")
        user_edits(project)
        before = Checkout.of(project)
        main_before = git(project, "rev-parse", "main")
        state = infinite_orchestra(project=str(project), return_state=True)
        yield BranchCycle(project, before, main_before, state)


class TestCheckoutUntouched:
    """A cycle (integration: branch) over a checkout with uncommitted work leaves it as it was."""

    def test_task_done(self, branch_cycle: BranchCycle) -> None:
        """The cycle completed its one task (the rest of this class relies on it)."""
        assert branch_cycle.state.is_completed(), branch_cycle.state.message
        assert outcome(branch_cycle.project, "task-01")["status"] == "done"

    def test_files_byte_for_byte(self, branch_cycle: BranchCycle) -> None:
        """Every file of the checkout (edits and untracked files too) has the same bytes and mode."""
        assert Checkout.of(branch_cycle.project).files == branch_cycle.before.files

    def test_index_byte_for_byte(self, branch_cycle: BranchCycle) -> None:
        """.git/index has the same bytes: the staged file is still staged, nothing else is."""
        assert Checkout.of(branch_cycle.project).index == branch_cycle.before.index

    def test_head_and_status(self, branch_cycle: BranchCycle) -> None:
        """HEAD names the same branch and commit, and `git status` reads the same."""
        after = Checkout.of(branch_cycle.project)
        before = branch_cycle.before
        assert (after.head_file, after.head, after.status) == (
            before.head_file,
            before.head,
            before.status,
        )

    def test_result_on_task_branch(self, branch_cycle: BranchCycle) -> None:
        """Branch orchestra/task-01 exists with the change, committed by Orchestra on top of main."""
        project = branch_cycle.project
        assert "def multiply(" in git(project, "show", f"{BRANCH}:calc/ops.py")
        assert git(project, "log", "--format=%ae", f"main..{BRANCH}") == ORCHESTRA_EMAIL
        assert git(project, "merge-base", "main", BRANCH) == branch_cycle.main_before

    def test_base_unchanged(self, branch_cycle: BranchCycle) -> None:
        """The base branch main still points where it did."""
        assert git(branch_cycle.project, "rev-parse", "main") == branch_cycle.main_before

    def test_worktrees_removed(self, branch_cycle: BranchCycle) -> None:
        """The task's clone under .orchestra/worktrees is gone after the cycle."""
        assert worktrees(branch_cycle.project) == []


@pytest.fixture
def queued(project: Path, demo_task: Callable[[str], str]) -> Path:
    """The demo project with one task (add multiply) queued."""
    queue_tasks(project, demo_task, "multiply")
    return project


class TestMergeMode:
    """integration: merge fast-forwards the base only when that cannot touch the checkout."""

    def test_base_not_checked_out_fast_forwarded(
        self, queued: Path, ops_env: pytest.MonkeyPatch, run_cycle: Callable[..., Any]
    ) -> None:
        """With another branch checked out, base main is fast-forwarded to the task's commit."""
        git(queued, "checkout", "--quiet", "-b", "feature")
        ops_env.setenv("ORCHESTRA_GIT__INTEGRATION", "merge")
        ops_env.setenv("ORCHESTRA_GIT__BASE_BRANCH", "main")
        before = Checkout.of(queued)
        state = run_cycle(queued)
        assert state.is_completed(), state.message
        assert git(queued, "rev-parse", "main") == git(queued, "rev-parse", BRANCH)
        assert "def multiply(" in git(queued, "show", "main:calc/ops.py")
        assert "fast-forwarded main" in outcome(queued, "task-01")["integration"]
        assert Checkout.of(queued) == before

    def test_base_checked_out_not_merged(
        self, queued: Path, ops_env: pytest.MonkeyPatch, run_cycle: Callable[..., Any]
    ) -> None:
        """With the base checked out, the result lands on orchestra-landed/main; the report
        says how to bring it in; main and the checkout are untouched."""
        ops_env.setenv("ORCHESTRA_GIT__INTEGRATION", "merge")
        before = Checkout.of(queued)
        main_before = git(queued, "rev-parse", "main")
        state = run_cycle(queued)
        assert state.is_completed(), state.message
        assert git(queued, "rev-parse", "main") == main_before
        report = task_report(queued, "task-01")
        assert "landed on orchestra-landed/main (base 'main' is checked out" in report
        assert "git merge --ff-only orchestra-landed/main" in report
        assert git(queued, "rev-parse", "orchestra-landed/main") == git(queued, "rev-parse", BRANCH)
        assert Checkout.of(queued) == before


class TestPatchMode:
    """integration: patch also writes the result as a patch file."""

    def test_patch_in_done(
        self, queued: Path, ops_env: pytest.MonkeyPatch, run_cycle: Callable[..., Any]
    ) -> None:
        """A `.patch` of the task's commit lands in .orchestra/done and applies to the base."""
        ops_env.setenv("ORCHESTRA_GIT__INTEGRATION", "patch")
        state = run_cycle(queued)
        assert state.is_completed(), state.message
        [patch] = (queued / ".orchestra" / "done").glob("task-01-*.patch")
        text = patch.read_text(encoding="utf-8")
        assert "+def multiply(a, b):" in text
        assert f"From: Orchestra <{ORCHESTRA_EMAIL}>" in text
        git(queued, "apply", "--check", str(patch))


class TestVerifyGate:
    """A task is done only when its verify command passes in the task's clone."""

    def test_verify_pass(self, queued: Path, run_cycle: Callable[..., Any]) -> None:
        """The demo task's verify (its unittest) passes: a verify step ran ok, the task is done."""
        state = run_cycle(queued)
        assert state.is_completed(), state.message
        steps = step_rows(task_report(queued, "task-01"))
        assert [(s["id"], s["status"]) for s in steps][-1] == ("verify", "ok")
        assert len(task_files(queued)["done"]) == 1

    def test_verify_fail(self, queued: Path, run_cycle: Callable[..., Any]) -> None:
        """A failing verify fails the task with the output tail in the report; nothing integrated."""
        task = queued / ".orchestra" / "queue" / "task-01.md"
        set_front_matter(task, verify="echo gate-said-no >&2; false")
        state = run_cycle(queued)
        assert state.is_failed()
        result = outcome(queued, "task-01")
        assert result["status"] == "failed"
        assert "verify `echo gate-said-no >&2; false` failed" in result["reason"]
        assert "gate-said-no" in task_report(queued, "task-01")
        assert task_files(queued)["done"] == []
        assert front_matter(queued / ".orchestra" / "queue" / "task-01.md")["attempts"] == 1
        assert git(queued, "branch", "--list", "orchestra/*") == ""
        assert worktrees(queued) == []

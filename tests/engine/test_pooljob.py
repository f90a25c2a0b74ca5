"""Settling a pool run's task on the cycle's host (no Prefect: the run's end is given)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestra.engine.approval import ApprovalRequest, Approver, Decision
from orchestra.engine.pooljob import (
    PoolJob,
    approve_pool_result,
    checkout,
    job_for,
    settle_pool_task,
    worker_outcome,
)
from orchestra.engine.settle import write_outcome
from orchestra.engine.step import StepContext, StepRecord
from orchestra.engine.task import TaskOutcome
from orchestra.project import Project, open_project
from orchestra.queue.claims import Claimed
from orchestra.secrets import register_secrets
from orchestra.testing import ScriptedRunner


@pytest.fixture
def claimed(demo_project: Path, demo_task: Callable[[str], str]) -> tuple[Project, Claimed]:
    proj = open_project(demo_project)
    path = proj.layout.queue / "task-1.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(demo_task("multiply"), encoding="utf-8")
    got = proj.queue.claim(path, run_id="cycle-1")
    assert got is not None
    return proj, got


def job(proj: Project, got: Claimed, remote: str = "file:///nowhere.git") -> PoolJob:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=proj.root, capture_output=True, text=True, check=True
    ).stdout.strip()
    return job_for(proj, got, remote, "main", head, "cycle-1")


def settle(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """settle_pool_task with a runner no step may reach (nothing here replays a result)."""
    return settle_pool_task(*args, runner=ScriptedRunner([]), **kwargs)


def outcome(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"task": "task-1", "title": "t", "status": "failed", "reason": "x"}
    data.update(steps=4, host="w1", report_text="# report\n", commit="")
    data.update(over)
    return data


def test_no_outcome_requeues_without_attempt(
    claimed: tuple[Project, Claimed], tmp_path: Path
) -> None:
    """A run that ended without an outcome (its worker died): back in queue/, attempts unchanged."""
    proj, got = claimed
    data = settle(proj, got, job(proj, got), None, "its worker went silent", tmp_path / "r")
    back = proj.layout.queue / "task-1.md"
    assert data["kind"] == "infrastructure"
    assert "went silent" in data["reason"]
    assert data["moved_to"] == str(back)
    assert "attempts" not in back.read_text(encoding="utf-8")
    assert not list(proj.layout.running.glob("task-1*"))
    assert (tmp_path / "r" / "outcome.json").is_file()


def test_forged_outcome_is_no_outcome(claimed: tuple[Project, Claimed], tmp_path: Path) -> None:
    """An outcome naming another task is not this task's: treated as none."""
    proj, got = claimed
    sent = outcome(task="task-9", status="done")
    data = settle(proj, got, job(proj, got), sent, "?", tmp_path / "r")
    assert data["kind"] == "infrastructure"
    assert (proj.layout.queue / "task-1.md").is_file()


def test_task_failure_costs_an_attempt(claimed: tuple[Project, Claimed], tmp_path: Path) -> None:
    """The worker's task failed: back with attempts 1 and the worker's report kept here."""
    proj, got = claimed
    data = settle(proj, got, job(proj, got), outcome(), "", tmp_path / "r")
    assert data["status"] == "failed"
    assert "kind" not in data
    assert "attempts: 1" in (proj.layout.queue / "task-1.md").read_text(encoding="utf-8")
    assert (tmp_path / "r" / "report.md").read_text(encoding="utf-8") == "# report\n"


def test_missing_branch_fails_the_task(claimed: tuple[Project, Claimed], tmp_path: Path) -> None:
    """'done' with a commit the remote does not have: failed, not archived."""
    proj, got = claimed
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    sent = outcome(status="done", reason="all steps passed", commit="a" * 40)
    data = settle(proj, got, job(proj, got, f"file://{bare}"), sent, "", tmp_path / "r")
    assert data["status"] == "failed"
    assert "not integrated" in data["reason"]
    assert not list(proj.layout.done.glob("task-1*"))


def test_worker_checkout(claimed: tuple[Project, Claimed], tmp_path: Path) -> None:
    """The worker's side: clone at the base, the cycle's config with integration forced to branch."""
    from orchestra.workspace.remote import publish_base

    proj, got = claimed
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    j = job(proj, got, f"file://{bare}")
    publish_base(proj.root, j.remote, j.base_commit)
    j = PoolJob.from_params(j.to_params())  # as it travels
    root, files, task = checkout(j, tmp_path / "work")
    worker = open_project(root, files)
    assert worker.config.git.integration == "branch"
    assert worker.config.workers.keys() == proj.config.workers.keys()
    assert task.read_text(encoding="utf-8") == got.task.path.read_text(encoding="utf-8")


def test_operator_stop_costs_no_attempt(claimed: tuple[Project, Claimed], tmp_path: Path) -> None:
    """The cycle cancelled the run (kill switch): even with the worker's failed outcome, the
    task goes back without an attempt, as the operator's stop."""
    proj, got = claimed
    stop = "kill switch is set"
    data = settle(proj, got, job(proj, got), outcome(), "", tmp_path / "r", stopped=stop)
    assert (data["kind"], data["reason"]) == ("operator", f"operator: {stop}")
    assert "attempts" not in (proj.layout.queue / "task-1.md").read_text(encoding="utf-8")


def test_worker_infrastructure_failure_costs_no_attempt(
    claimed: tuple[Project, Claimed], tmp_path: Path
) -> None:
    """A step that failed for the worker's machine (e.g. the model API refused the key there):
    back without an attempt, kind kept."""
    proj, got = claimed
    sent = outcome(kind="infrastructure", reason="implement (coder) failed: 401 Unauthorized")
    data = settle(proj, got, job(proj, got), sent, "", tmp_path / "r")
    assert data["kind"] == "infrastructure"
    assert "attempts" not in (proj.layout.queue / "task-1.md").read_text(encoding="utf-8")


def test_worker_row_is_the_local_row(tmp_path: Path) -> None:
    """A pool worker sends back the row a local task writes to outcome.json (reason redacted),
    plus its commit and report text."""
    register_secrets(["s3cret-value-for-row"])
    done = TaskOutcome("task-1", "t", "failed", "auth s3cret-value-for-row", commit="abc")
    done.run_dir, done.kind, done.started, done.ended = tmp_path, "task", "t0", "t1"
    local = write_outcome(done, report=tmp_path / "report.md", moved_to=tmp_path / "failed")
    sent = worker_outcome(done, "# report s3cret-value-for-row\n")
    assert {k: v for k, v in local.items() if k not in ("report", "moved_to")} == {
        k: v for k, v in sent.items() if k not in ("commit", "report_text")
    }
    assert sent["commit"] == "abc" and local["kind"] == "task" and local["started"] == "t0"
    assert "s3cret-value-for-row" not in str(sent) + str(local)


def pushed_result(proj: Project, bare: Path, name: str = "worker.txt") -> str:
    """What a pool worker leaves: one commit on the base, pushed as orchestra/task-1 (and not
    in the project yet); its id."""

    def run(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=proj.root, capture_output=True, text=True, check=True
        ).stdout.strip()

    run("checkout", "-q", "-b", "worker-side")
    (proj.root / name).write_text("from the worker\n", encoding="utf-8")
    run("add", name)
    run("-c", "user.name=W", "-c", "user.email=w@example.com", "commit", "-qm", "task-1: t")
    commit = run("rev-parse", "HEAD")
    run("push", "-q", f"file://{bare}", "worker-side:refs/heads/orchestra/task-1")
    run("checkout", "-q", "main")
    run("branch", "-q", "-D", "worker-side")
    return commit


@dataclass
class FixingRunner:
    """Answers steps from a script; a fix step also writes FIXED.txt into its work tree (what
    the fixer would do with the person's comment)."""

    script: ScriptedRunner

    def __call__(self, ctx: StepContext) -> StepRecord:
        if ctx.step_id == "fix":
            (ctx.workspace / "FIXED.txt").write_text("after the comment\n", encoding="utf-8")
        return self.script(ctx)


def asking(*decisions: Decision) -> tuple[list[ApprovalRequest], Approver]:
    asked: list[ApprovalRequest] = []

    def approver(request: ApprovalRequest) -> Decision:
        asked.append(request)
        return decisions[len(asked) - 1]

    return asked, approver


def ok_step() -> str:
    return "## Summary\n\nfixed\n"


def test_pool_result_sent_back_then_approved(
    claimed: tuple[Project, Claimed], tmp_path: Path
) -> None:
    """A send-back runs the fixer on this host; the fix is folded into the result's one commit
    (parent: the task's base) on orchestra/task-1, which the settle then lands."""
    from orchestra.workspace.remote import publish_base

    proj, got = claimed
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    j = job(proj, got, f"file://{bare}")
    publish_base(proj.root, j.remote, j.base_commit)
    commit = pushed_result(proj, bare)
    asked, approver = asking(Decision("send_back", "add FIXED.txt"), Decision("approve"))
    runner = FixingRunner(ScriptedRunner([ok_step(), ok_step(), ok_step()]))
    sent = outcome(status="done", reason="all steps passed", commit=commit)
    answer = approve_pool_result(proj, got, j, sent, tmp_path / "r", runner, approver)
    assert (answer["reason"], answer["held"]) == ("", ""), answer
    assert [r.asked for r in asked] == [1, 2] and "worker.txt" in asked[0].diff_stat
    folded = answer["commit"]
    assert folded != commit and answer["steps"] >= 1
    tree = subprocess.run(
        ["git", "ls-tree", "--name-only", "orchestra/task-1"],
        cwd=proj.root, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert {"worker.txt", "FIXED.txt"} <= set(tree)
    parent = subprocess.run(
        ["git", "rev-parse", f"{folded}^"],
        cwd=proj.root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert parent == j.base_commit
    data = settle_pool_task(proj, got, j, sent, "", tmp_path / "r", runner=runner, approval=answer)
    assert data["status"] == "done", data
    assert data["commit"] and "orchestra/task-1" in data["integration"], data


def test_pool_result_rejected_is_kept_nowhere(
    claimed: tuple[Project, Claimed], tmp_path: Path
) -> None:
    """Reject: the task fails with the comment; the branch is gone from the project and from
    git.remote (a retry's worker must not find it); a timeout leaves it on its branch."""
    from orchestra.workspace.remote import publish_base

    proj, got = claimed
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    j = job(proj, got, f"file://{bare}")
    publish_base(proj.root, j.remote, j.base_commit)
    commit = pushed_result(proj, bare)
    sent = outcome(status="done", reason="all steps passed", commit=commit)
    _, waits = asking(Decision("timeout", "no approval within git.approval_timeout (3 s)"))
    held = approve_pool_result(proj, got, j, sent, tmp_path / "r", ScriptedRunner([]), waits)
    assert held["held"].startswith("no approval") and held["commit"] == commit
    _, rejects = asking(Decision("reject", "not this"))
    answer = approve_pool_result(proj, got, j, sent, tmp_path / "r", ScriptedRunner([]), rejects)
    assert answer["reason"] == "rejected by a person: not this"
    for where in (proj.root, bare):
        refs = subprocess.run(
            ["git", "for-each-ref", "refs/heads/orchestra/"],
            cwd=where, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert refs == "", (where, refs)
    data = settle(proj, got, j, sent, "", tmp_path / "r", approval=answer)
    assert data["status"] == "failed" and data["reason"] == "rejected by a person: not this"
    assert "attempts: 1" in (proj.layout.queue / "task-1.md").read_text(encoding="utf-8")

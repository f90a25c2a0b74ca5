"""One task on a pool worker (`dispatch: pool`), and its settlement back on the cycle's host.

The cycle stays the only writer of the queue: it claims, hands the worker a :class:`PoolJob`
(the remote, the base commit, the task's text and the cycle's config), and settles the task when
the run ends. The worker never sees the queue: it clones the remote at the base commit, runs the
steps with ``git.integration: branch`` and pushes ``orchestra/<task-id>`` back. The cycle then
fetches that branch and lands it through the merge queue (engine/mergequeue.py), as it does a
local result: replayed onto a moved base, resolved and verified again on the cycle's host.

A run that ends without an outcome (its worker died, nobody started it, it crashed before the
task could end) is an infrastructure failure: the task goes back to the queue without an attempt.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from loguru import logger

from orchestra.agents import workspace_excludes
from orchestra.engine.approval import Approver, approval_phase
from orchestra.engine.failures import costs_attempt
from orchestra.engine.mergequeue import queue_turn
from orchestra.engine.settle import outcome_row
from orchestra.engine.spending import SpendGuard
from orchestra.engine.task import StepRunner, TaskOutcome, TaskRun, land_result, queue_checks
from orchestra.errors import ProjectError
from orchestra.paths import private_dirs
from orchestra.policy.governor import Spend
from orchestra.project import Project
from orchestra.queue.claims import Claimed
from orchestra.secrets import redact
from orchestra.workspace.carryover import settle_work_tree
from orchestra.workspace.clone import TaskWorkspace, branch_name, fetch_branch, remove_workspace
from orchestra.workspace.git import git
from orchestra.workspace.integrate import integration_lock, result_workspace
from orchestra.workspace.protected import ALLOW_KEY, protected_changes, refusal
from orchestra.workspace.remote import check_remote, clone_at, fetch_result, push_result


@dataclass(frozen=True)
class PoolJob:
    """What a pool worker needs to run one task: nothing it would read from the cycle's disk."""

    remote: str
    base: str
    base_commit: str
    task_file: str
    """The task file's name (its id is the name without ``.md``)."""
    task_text: str
    config: dict[str, Any]
    """The cycle's effective config; the worker forces ``git.integration: branch``."""
    cycle_run: str = ""
    day_spent: dict[str, float] = field(default_factory=dict)
    """Today's spending in the cycle's ledger at the claim (``cost``, ``tokens``): the worker
    holds the daily caps against it and its own steps (it cannot read the ledger)."""

    @property
    def task_id(self) -> str:
        """The task's id."""
        return self.task_file.removesuffix(".md")

    def to_params(self) -> dict[str, Any]:
        """As a flow-run parameter (JSON)."""
        return asdict(self)

    @classmethod
    def from_params(cls, data: dict[str, Any]) -> PoolJob:
        """From :meth:`to_params`; a missing field names itself."""
        try:
            return cls(**data)
        except TypeError as exc:
            msg = f"pool job parameter {sorted(data)!r} does not fit PoolJob: {exc}"
            raise ProjectError(msg) from exc


def job_for(
    project: Project, claimed: Claimed, remote: str, base: str, commit: str, run_id: str
) -> PoolJob:
    """The job of ``claimed``, from the cycle's project."""
    config = project.config.model_dump(mode="json", exclude_defaults=True)
    text = claimed.task.path.read_text(encoding="utf-8")
    guard = SpendGuard(project, run_id)
    day = guard.day_spent(guard.rows_today(), Spend()) + guard.running()
    spent = {"cost": day.cost, "tokens": float(day.tokens)}
    return PoolJob(remote, base, commit, claimed.task.path.name, text, config, run_id, spent)


def day_base(job: PoolJob) -> Spend:
    """What the cycle's ledger held today at the job's claim."""
    sent = job.day_spent
    return Spend(float(sent.get("cost") or 0.0), int(sent.get("tokens") or 0))


def checkout(job: PoolJob, work: Path) -> tuple[Path, list[str], Path]:
    """On the worker: (project clone, config overlay, task file) under ``work``."""
    root = clone_at(job.remote, job.base_commit, work / "project", job.base, job.task_id)
    config = dict(job.config)
    git_cfg = dict(config.get("git") or {})
    git_cfg.update(integration="branch", base_branch=job.base)
    config["git"] = git_cfg
    overlay = work / "pool-config.yaml"
    overlay.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    task = work / "task" / job.task_file
    task.parent.mkdir(parents=True)
    task.write_text(job.task_text, encoding="utf-8")
    return root, [str(overlay)], task


def push_on_worker(project: Project, job: PoolJob, outcome: TaskOutcome) -> None:
    """Push the result branch to the remote; a failed push fails the task (infrastructure)."""
    if outcome.status != "done" or not outcome.commit:
        return
    try:
        push_result(project.root, job.remote, job.task_id)
    except ProjectError as exc:
        outcome.status, outcome.kind = "failed", "infrastructure"
        outcome.reason = f"infrastructure: push to git.remote failed: {exc}"


def worker_outcome(outcome: TaskOutcome, report: str) -> dict[str, Any]:
    """The outcome a worker sends back (small JSON; the report's text is in it)."""
    return outcome_row(outcome) | {
        "commit": outcome.commit or "",
        "report_text": redact(report)[-20000:],
    }


def remove_work(work: Path) -> None:
    """The worker's clone and run folder (the report went back with the outcome)."""
    shutil.rmtree(work, ignore_errors=True)


def settle_pool_task(
    project: Project,
    claimed: Claimed,
    job: PoolJob,
    sent: dict[str, Any] | None,
    why_none: str,
    run_dir: Path,
    *,
    runner: StepRunner,
    stopped: str = "",
    approval: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Settle a pool run's task on the cycle's host; the outcome row the cycle records.

    ``sent`` is the worker's outcome, None when the run ended without one (``why_none``).
    ``runner``: runs the merge queue's resolve and verify steps on this host.
    ``stopped``: the cycle cancelled the run (kill switch); unless it got done anyway, the task
    goes back without an attempt (the operator's stop).
    ``approval``: what :func:`approve_pool_result` answered (``git.approval: merge``), asked
    while the run's thread waited, so that the cycle went on meanwhile; None: nobody asked.
    """
    task_id = claimed.task.task_id
    done = sent is not None and sent.get("status") == "done"
    if stopped and not done:
        reason = f"operator: {stopped}"
        where = project.queue.requeue(claimed, reason=reason)
        data: dict[str, Any] = {"task": task_id, "status": "failed", "reason": reason}
        data.update(kind="operator", steps=0, host="", moved_to=str(where), integration="")
        return _write(run_dir, data)
    if sent is None or str(sent.get("task")) != task_id:
        reason = f"infrastructure: pool run ended without an outcome ({why_none})"
        where = project.queue.requeue(claimed, reason=reason)
        data = {"task": task_id, "status": "failed", "reason": reason}
        data.update(kind="infrastructure", steps=0, host="", moved_to=str(where), integration="")
        logger.bind(task_id=task_id, event="requeued").warning(
            "{} requeued without an attempt: {}", task_id, reason
        )
        return _write(run_dir, data)
    data = {k: v for k, v in sent.items() if k != "report_text"}
    data["queue"] = ""  # the worker's own landing (its branch) is not the cycle's merge queue
    report = str(sent.get("report_text") or "")
    run_dir.mkdir(parents=True, exist_ok=True)
    private_dirs(run_dir)
    (run_dir / "report.md").write_text(report, encoding="utf-8")
    data["report"] = str(run_dir / "report.md")
    if data.get("status") == "done":
        try:
            _integrate(project, claimed, job, data, run_dir, runner, approval)
        except ProjectError as exc:
            data.update(status="failed", reason=f"result not integrated: {exc}")
    if data.get("status") == "done":
        where = project.queue.archive(claimed)
    elif str(data.get("reason", "")).startswith("infrastructure:") or not costs_attempt(
        data.get("kind")
    ):
        # The worker's machine, not the task (a push that failed, a model API refusing the key).
        data["kind"] = data.get("kind") or "infrastructure"
        where = project.queue.requeue(claimed, reason=str(data["reason"]))
    else:
        where = project.queue.fail(claimed, reason=str(data.get("reason", "")), report=report)
    data["moved_to"] = str(where)
    return _write(run_dir, data)


def _integrate(
    project: Project,
    claimed: Claimed,
    job: PoolJob,
    data: dict[str, Any],
    run_dir: Path,
    runner: StepRunner,
    approval: dict[str, Any] | None = None,
) -> None:
    """Fetch the worker's branch from the remote, then land it through the merge queue (on
    this host: a moved base means a replay, maybe a resolve step, and verify again here).
    With an ``approval``, :func:`approve_pool_result` did that already (or why not)."""
    commit = str(data.get("commit") or "")
    if not commit:
        data["integration"] = "no changes to integrate"
        return
    if approval is not None:
        data["steps"] = int(data.get("steps") or 0) + int(approval.get("steps") or 0)
        data["cost_usd"] = float(data.get("cost_usd") or 0.0) + float(approval.get("cost") or 0)
        if approval.get("error"):
            raise ProjectError(str(approval["error"]))
        if approval.get("reason"):
            data.update(status="failed", kind="task", reason=str(approval["reason"]))
            data["integration"] = ""
            return
        data.update(commit=approval["commit"], integration=approval["integration"])
        data["queue"] = approval.get("queue") or ""
        return
    _fetch(project, job, commit)
    tr = _task_run(project, claimed, job, run_dir, runner)
    outcome = TaskOutcome(job.task_id, claimed.task.title, "done", "", run_dir=run_dir)
    ws = _result_ws(project, job, commit)
    try:
        land_result(tr, ws, commit, outcome)
    finally:
        remove_workspace(ws.path, ws.git_dir)
    data.update(integration=outcome.integration, queue=outcome.queue, commit=outcome.commit)
    if tr.records:  # the replay's resolve and verify steps ran here
        data["steps"] = int(data.get("steps") or 0) + len(tr.records)
        data["cost_usd"] = float(data.get("cost_usd") or 0.0) + outcome.cost_usd


def approve_pool_result(
    project: Project,
    claimed: Claimed,
    job: PoolJob,
    sent: dict[str, Any],
    run_dir: Path,
    runner: StepRunner,
    approver: Approver,
) -> dict[str, Any]:
    """Ask a person about a pool result before the cycle lands it (``git.approval: merge``).

    Runs on the thread that waited for the pool run, so the cycle and its other tasks go on.
    An approved result lands here, through the merge queue, before the asking run ends (so
    that `orchestra approve`, which waits for that run, finds it landed). The answer, for
    :func:`settle_pool_task`: ``reason`` (rejected: the task fails), ``held`` (timed out: left
    on its branch), ``commit`` (a send-back's fix is folded into the result's one commit),
    ``integration`` and ``queue`` (what the merge queue did), ``steps`` and ``cost`` (the
    steps that ran on this host), or ``error`` (the result could not be asked about).
    """
    commit = str(sent.get("commit") or "")
    answer: dict[str, Any] = {"commit": commit, "steps": 0, "cost": 0.0}
    tr = _task_run(project, claimed, job, run_dir, runner)
    try:
        _fetch(project, job, commit)
        ws = _result_ws(project, job, commit)
    except ProjectError as exc:
        return answer | {"error": str(exc)}
    try:
        reason, held = approval_phase(tr, ws, approver, queue_checks(tr).verify)
        if reason is None and tr.records:  # a send-back's fix, approved or left waiting
            commit = answer["commit"] = _fold_fix(tr, ws, commit)
        if reason is None and held:
            branch = branch_name(job.task_id)
            answer["integration"] = f"branch {branch}; not merged: {held}; left on its branch"
        elif reason is None:  # lands before this run ends: `orchestra approve` then sees it
            outcome = TaskOutcome(job.task_id, claimed.task.title, "done", "", run_dir=run_dir)
            land_result(tr, ws, commit, outcome)
            answer.update(commit=outcome.commit, integration=outcome.integration)
            answer["queue"] = outcome.queue
        else:
            _drop_result(project, job, commit)
    except ProjectError as exc:
        reason, held = f"result not integrated after approval: {exc}", ""
    finally:
        remove_workspace(ws.path, ws.git_dir)
    answer.update(reason=reason or "", held=held, steps=len(tr.records))
    answer["cost"] = sum(r.cost_usd or 0.0 for r in tr.records)
    return answer


def _fold_fix(tr: TaskRun, ws: TaskWorkspace, commit: str) -> str:
    """The result with a send-back's fix folded in: still one commit on the commit its task
    started from (what the merge queue replays), written to ``orchestra/<task-id>`` here."""
    settle_work_tree(ws)
    ws.git("add", "--all")
    tree = ws.git("write-tree")
    if tree == ws.git("rev-parse", f"{commit}^{{tree}}"):
        return commit
    cfg = tr.project.config.git
    ident = ["-c", f"user.name={cfg.author_name}", "-c", f"user.email={cfg.author_email}"]
    message = ws.git("log", "-1", "--format=%B", commit)
    folded = ws.git(*ident, "commit-tree", tree, "-p", ws.base_commit, "-m", message)
    if (found := protected_changes(ws, folded)) and tr.task.front.get(ALLOW_KEY) is not True:
        raise ProjectError(refusal(found))
    ws.git("update-ref", f"refs/heads/{ws.branch}", folded)
    with queue_turn(tr.project):
        return fetch_branch(tr.project.root, ws, replaces=commit)


def _drop_result(project: Project, job: PoolJob, commit: str) -> None:
    """A rejected result is kept nowhere, as for a local task: not in the project, and not on
    git.remote, where a retry's worker would find it and land it again without its agents."""
    ref = f"refs/heads/{branch_name(job.task_id)}"
    try:
        with queue_turn(project):
            git(project.root, "update-ref", "-d", ref, commit)
            remote = check_remote(job.remote)
            git(
                project.root,
                "push",
                "--quiet",
                "--no-verify",
                f"--force-with-lease={ref}:{commit}",
                remote,
                f":{ref}",
            )
    except ProjectError as exc:  # the person's reject stands; the branch is only left over
        logger.bind(task_id=job.task_id).warning(
            "{}: rejected result not removed everywhere: {}", job.task_id, exc
        )


def _fetch(project: Project, job: PoolJob, commit: str) -> None:
    """The worker's branch from the remote into the project; it must be what was reported."""
    with integration_lock(project.root / ".orchestra"):
        fetched = fetch_result(project.root, job.remote, job.task_id)
    if fetched != commit:
        branch = branch_name(job.task_id)
        msg = f"{branch} on git.remote is at {fetched[:12]}, the worker reported {commit[:12]}"
        raise ProjectError(msg)


def _task_run(
    project: Project, claimed: Claimed, job: PoolJob, run_dir: Path, runner: StepRunner
) -> TaskRun:
    deadline = time.monotonic() + project.config.limits.task_wall_clock
    return TaskRun(project, claimed.task, job.cycle_run or "pool", run_dir, runner, deadline)


def _result_ws(project: Project, job: PoolJob, commit: str) -> TaskWorkspace:
    return result_workspace(
        project.root,
        project.worktrees_dir / job.task_id,
        project.gitdirs_dir / job.task_id,
        job.task_id,
        job.base,
        commit,
        workspace_excludes(),
    )


def _write(run_dir: Path, data: dict[str, Any]) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    private_dirs(run_dir)
    (run_dir / "outcome.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return data

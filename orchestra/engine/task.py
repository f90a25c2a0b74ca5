"""Take one claimed task through the boomerang workflow in its own clone, then verify and integrate.

The step runner is injected (the flow passes a Prefect task; tests may pass :func:`run_step`),
so this module stays free of Prefect.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from loguru import logger

from orchestra.agents import choose_model, workspace_excludes
from orchestra.clock import iso_utc, utc_now
from orchestra.config.models import WRITING_ROLES, StepConfig
from orchestra.engine.approval import Approver, approval_phase, needs_approval, no_approver
from orchestra.engine.failover import NotRun, own_model, run_with_failover
from orchestra.engine.failures import (
    FailureClass,
    exception_failure_class,
    records_failure_class,
)
from orchestra.engine.handoff import Handoff, build_carry, fingerprint
from orchestra.engine.mergequeue import Checks, land, queue_turn, resolve_step
from orchestra.engine.sequencer import StepSequencer, missing_verdict
from orchestra.engine.setup import restore_setup_settings, setup_phase
from orchestra.engine.spending import SpendGuard
from orchestra.engine.step import StepContext, StepRecord
from orchestra.errors import ProjectError
from orchestra.policy.loops import LoopDetector
from orchestra.project import Project
from orchestra.queue.taskfile import TaskFile
from orchestra.runtime import view_of
from orchestra.workspace.agentgit import reset_agent_git
from orchestra.workspace.carryover import settle_work_tree
from orchestra.workspace.clone import (
    TaskWorkspace,
    branch_name,
    commit_all,
    create_workspace,
    fetch_branch,
    remove_workspace,
)
from orchestra.workspace.git import current_branch
from orchestra.workspace.integrate import result_workspace
from orchestra.workspace.protected import ALLOW_KEY, protected_changes, refusal
from orchestra.workspace.result import earlier_result, result_trailers

StepRunner = Callable[[StepContext], StepRecord]


OutcomeStatus = Literal["done", "failed"]
"""How a task ended (memory also records "rejected"; see orchestra.memory.TaskStatus)."""


@dataclass
class TaskOutcome:
    """How a task ended, with every step it ran."""

    task_id: str
    title: str
    status: OutcomeStatus
    reason: str
    steps: list[StepRecord] = field(default_factory=list)
    branch: str | None = None
    commit: str | None = None
    integration: str = ""
    run_dir: Path | None = None
    host: str = field(default_factory=socket.gethostname)
    """Where the task ran (the cycle's host, or a pool worker's)."""
    started: str = ""
    ended: str = ""
    """When the task started and ended (UTC ISO-8601): which tasks ran side by side."""
    kind: FailureClass | None = None
    """Of a failure: task (costs an attempt), infrastructure or operator (they do not)."""
    queue: str = ""
    """The result's turn in the merge queue (engine/mergequeue.py), for the cycle table."""

    @property
    def cost_usd(self) -> float:
        """Sum of the costs the agents reported."""
        return sum(s.cost_usd or 0.0 for s in self.steps)

    @property
    def tokens(self) -> str:
        """``<in>/<out>`` tokens the agents reported, summed over the steps ("" when none did)."""
        if all(s.input_tokens is None and s.output_tokens is None for s in self.steps):
            return ""
        sent = sum(s.input_tokens or 0 for s in self.steps)
        received = sum(s.output_tokens or 0 for s in self.steps)
        return f"{sent}/{received}"


@dataclass
class TaskRun:
    """The state of one task while its steps run."""

    project: Project
    task: TaskFile
    run_id: str
    run_dir: Path
    runner: StepRunner
    deadline: float
    records: list[StepRecord] = field(default_factory=list)
    blocks: list[tuple[str, Handoff]] = field(default_factory=list)
    sticky_model: str | None = None
    tip: str | None = None
    """The task branch's commit while steps run (nothing commits before the integration)."""
    settings_put_back: list[str] = field(default_factory=list)
    setup_paths: list[str] = field(default_factory=list)
    """Patterns of what the set-up left untracked: kept between steps, out of the result."""
    """Agent-CLI settings the steps changed and Orchestra put back (workspace/carryover.py)."""
    guard: SpendGuard | None = None  # the spending governor (caps, windows, usage ledger)
    stop_kind: FailureClass | None = None  # of a stop no step shows (a cap; providers down)

    def timeout_for(self, step: StepConfig) -> float:
        """The step's own limit, capped by what is left of the task's wall clock."""
        cfg = self.project.config
        profile = self.project.worker(step.worker)
        limit = (
            step.timeout
            or cfg.workflows.roocode_boomerang.per_step_timeout
            or profile.timeout
            or cfg.tasks.default_timeout
        )
        return max(1.0, min(float(limit), self.deadline - time.monotonic()))

    def context(
        self, step: StepConfig, ws: TaskWorkspace, verify: str | None = None
    ) -> StepContext:
        """Build the StepContext for ``step`` (or for the verify gate)."""
        cfg = self.project.config
        profile = self.project.worker(step.worker)
        model = choose_model(
            cfg.tasks.default_model_policy,
            profile_model=profile.model,
            task_model=self.task.model,
            sticky_model=self.sticky_model,
        )
        self.sticky_model = self.sticky_model or model
        n = len(self.records) + 1
        return StepContext(
            project_id=self.project.project_id,
            run_id=self.run_id,
            task_id=self.task.task_id,
            step_id=step.id,
            title=step.title or step.id.capitalize(),
            worker_id=step.worker,
            profile=profile,
            prompt_name=step.prompt or profile.prompt or step.id,
            workspace=ws.path,
            output_dir=self.run_dir / f"{n:02d}-{step.id}",
            timeout=self.timeout_for(step),
            model=model,
            values={
                "task": self.task.text,
                "carry": build_carry(
                    self.blocks, max_chars=cfg.workflows.roocode_boomerang.max_carry_chars
                )
                or "(none yet)",
                "goal": cfg.workflows.infinite_orchestra.goal,
                "task_id": self.task.task_id,
            },
            verify_command=verify,
            objects_dir=ws.objects_dir,
            log_head=cfg.logging.agent_head_lines,
            log_tail=cfg.logging.agent_tail_lines,
            log_every_line=cfg.ui.debug,
        )

    def run(self, ctx: StepContext, ws: TaskWorkspace) -> StepRecord:
        """Run a step through the injected runner and remember it.

        The agent's `.git` is written afresh first: nothing an earlier step planted there
        reaches this one (the host never reads it either).
        """
        self.tip = self.tip or ws.git("rev-parse", "--verify", "HEAD")
        if self.records:  # nothing an earlier step left outside its content reaches this one
            self.settings_put_back += settle_work_tree(ws, keep=self.setup_paths)
            restore_setup_settings(ws)
        reset_agent_git(ws, view_of(ctx.profile.runtime).objects(ws.objects_dir), self.tip)
        record = self.runner(ctx)
        self.records.append(record)
        return record


def _step_problem(step: StepConfig, record: StepRecord, role: str | None) -> str | None:
    """Why the task must end after this step: it failed, or a reviewer gave no verdict."""
    if not record.ok:
        return f"{step.id} ({step.worker}) {record.status}: {record.message}"
    return missing_verdict(step.id, step.worker, role, record.verdict) or None


def _run_one(tr: TaskRun, step: StepConfig, ws: TaskWorkspace) -> StepRecord | str:
    """Run ``step`` (failing over to its fallbacks; under the governor); why it could not."""
    if time.monotonic() >= tr.deadline:
        return f"task wall clock of {tr.project.config.limits.task_wall_clock} s used up before {step.id}"
    run = lambda s, live: tr.run(  # noqa: E731
        replace(own_model(tr.context(s, ws), step.worker), usage_check=live), ws
    )
    record = run_with_failover(tr.project, step, run, tr.records, tr.guard)
    if isinstance(record, NotRun):
        tr.stop_kind = record.kind
        return record.reason
    return record


def _steps_phase(tr: TaskRun, ws: TaskWorkspace) -> str | None:
    """Run the workflow's steps; return a failure reason or None."""
    wf = tr.project.config.workflows.roocode_boomerang
    roles = {wid: p.role for wid, p in tr.project.config.workers.items()}
    seq = StepSequencer(wf.steps, roles, wf.max_steps)
    loops = LoopDetector()
    while (step := seq.next()) is not None:
        record = _run_one(tr, step, ws)
        if isinstance(record, str):
            return record
        if problem := _step_problem(step, record, roles.get(step.worker)):
            return problem
        print_ = "" if record.handoff.is_empty() else fingerprint(record.handoff)
        if loop := loops.check(step.id, print_, record.verdict):
            return f"{loop} ({step.worker}): stopped as a loop"
        tr.blocks.append((record.title, record.handoff))
        seq.record(step, record.verdict)
    if seq.last_verdict == "CHANGES_REQUESTED":
        return (
            f"review still requests changes after {len(seq.ran)} steps (max_steps {wf.max_steps})"
        )
    if seq.exhausted:
        return f"max_steps {wf.max_steps} reached before the workflow finished (ran {len(seq.ran)} steps)"
    return None


def _verify_phase(tr: TaskRun, ws: TaskWorkspace) -> str | None:
    command = tr.task.verify or tr.project.config.git.verify
    if not command:
        return None
    # The gate runs where the code was written: the runtime of the first writing step.
    steps = tr.project.config.workflows.roocode_boomerang.steps
    writer = next(
        (s for s in steps if tr.project.worker(s.worker).role in WRITING_ROLES), steps[-1]
    )
    gate = StepConfig(id="verify", worker=writer.worker, title="Verify")
    record = tr.run(tr.context(gate, ws, verify=command), ws)
    if record.ok:
        return None
    return f"verify `{command}` failed ({record.message}):\n{record.output_tail[-1500:]}"


def _integrate(tr: TaskRun, ws: TaskWorkspace, outcome: TaskOutcome, held: str = "") -> str | None:
    """Commit the work tree and bring the result in (``held``: only onto its branch, with
    that reason); return why it was refused, or None."""
    cfg = tr.project.config.git
    tr.settings_put_back += settle_work_tree(ws)
    if tr.settings_put_back:
        left_out = ", ".join(sorted(set(tr.settings_put_back))[:10])
        outcome.integration = f"agent-CLI settings left out of the result: {left_out}; "
    commit = commit_all(
        ws,
        message=f"{tr.task.task_id}: {tr.task.title}\n\nMade by Orchestra run {tr.run_id}.",
        author_name=cfg.author_name,
        author_email=cfg.author_email,
        trailers=result_trailers(tr.task.task_id, tr.task.body),
    )
    outcome.commit = commit
    tr.tip = None  # the commit (and any rebase) moves the branch: steps after it look again
    if commit is None:
        outcome.integration += "no changes to integrate"
        return None
    if (found := protected_changes(ws, commit)) and tr.task.front.get(ALLOW_KEY) is not True:
        outcome.commit = None
        return refusal(found)
    if held:
        with queue_turn(tr.project):
            outcome.commit, outcome.branch = fetch_branch(tr.project.root, ws), ws.branch
        outcome.integration += f"branch {ws.branch}; not merged: {held}; left on its branch"
        return None
    land_result(tr, ws, commit, outcome)
    return None


def queue_checks(tr: TaskRun) -> Checks:
    """What the merge queue runs on this task's replayed result: verify, and the resolve step."""
    return Checks(
        verify=lambda ws: _verify_phase(tr, ws),
        resolve=lambda ws, files: resolve_step(tr, ws, files),
    )


def land_result(tr: TaskRun, ws: TaskWorkspace, commit: str, outcome: TaskOutcome) -> None:
    """The one integration path (local, retried and pool results): through the merge queue."""
    dest = tr.project.layout.done / f"{tr.task.task_id}-{commit[:12]}.patch"
    landing = land(tr.project, ws, commit, queue_checks(tr), patch_dest=dest)
    outcome.commit, outcome.branch = landing.commit, ws.branch
    outcome.integration += landing.text
    outcome.queue = landing.queue


def _settle_earlier(tr: TaskRun, base: str, commit: str, outcome: TaskOutcome) -> TaskWorkspace:
    """Finish a retry whose earlier run already wrote the result branch: no agent runs again;
    the result goes through the merge queue like any other (returns its work tree)."""
    branch = branch_name(tr.task.task_id)
    outcome.status = "done"
    outcome.reason = (
        f"result already on {branch} ({commit[:12]}) from an earlier run; agents not run again"
    )
    project = tr.project
    ws = result_workspace(
        project.root,
        project.worktrees_dir / tr.task.task_id,
        project.gitdirs_dir / tr.task.task_id,
        tr.task.task_id,
        base,
        commit,
        workspace_excludes(),
    )
    land_result(tr, ws, commit, outcome)
    return ws


def _records_kind(records: list[StepRecord]) -> FailureClass:
    """Verify's own failure is the task's, whatever its stderr says; a stop is the operator's."""
    if records and records[-1].step == "verify" and records[-1].status != "stopped":
        return "task"
    return records_failure_class(records)


def run_task(
    project: Project,
    task: TaskFile,
    *,
    run_id: str,
    runner: StepRunner,
    run_dir: Path,
    guard: SpendGuard | None = None,
    approver: Approver = no_approver,
) -> TaskOutcome:
    """Run ``task`` in its own clone; never raises for the task's own failure. ``approver``
    asks a person when ``git.approval`` wants one (engine/approval.py)."""
    limits = project.config.limits
    tr = TaskRun(project, task, run_id, run_dir, runner, time.monotonic() + limits.task_wall_clock)
    tr.guard = guard
    outcome = TaskOutcome(task.task_id, task.title, "failed", "", run_dir=run_dir)
    outcome.started = iso_utc(utc_now())
    ws: TaskWorkspace | None = None
    try:
        base = project.config.git.base_branch or current_branch(project.root)
        try:
            earlier = earlier_result(project.root, task.task_id, task.body)
        except ProjectError as exc:  # a branch of this name that is not ours: refused
            outcome.reason = str(exc)
            return _ended(outcome, tr)
        if earlier is not None:
            ws = _settle_earlier(tr, base, earlier, outcome)
            return _ended(outcome, tr)
        ws = create_workspace(
            project.root,
            project.worktrees_dir / task.task_id,
            project.gitdirs_dir / task.task_id,
            task.task_id,
            base,
            workspace_excludes(),
        )
        reason = setup_phase(tr, ws) or _steps_phase(tr, ws) or _verify_phase(tr, ws)
        held = ""
        if reason is None and needs_approval(project.config):
            reason, held = approval_phase(tr, ws, approver, lambda w: _verify_phase(tr, w))
        if reason is None and (refused := _integrate(tr, ws, outcome, held)):
            outcome.reason, outcome.kind = refused, "task"
        elif reason is None:
            outcome.status, outcome.reason = "done", "all steps passed"
        else:
            outcome.reason, outcome.kind = reason, tr.stop_kind or _records_kind(tr.records)
    except Exception as exc:  # the task fails with the reason; the claim is settled by the caller
        outcome.kind = exception_failure_class(exc)
        if outcome.kind == "task":
            logger.opt(exception=True).error("{} crashed: {}", task.task_id, exc)
        outcome.status, outcome.reason = "failed", f"internal error: {type(exc).__name__}: {exc}"
        if outcome.kind == "infrastructure":
            outcome.reason = f"infrastructure: {exc}"
    finally:
        if ws is not None:
            remove_workspace(ws.path, ws.git_dir)
    return _ended(outcome, tr)


def _ended(outcome: TaskOutcome, tr: TaskRun) -> TaskOutcome:
    outcome.steps = tr.records
    outcome.ended = iso_utc(utc_now())
    kind = f" ({outcome.kind})" if outcome.kind else ""
    logger.bind(task_id=outcome.task_id).info(
        "{} {}{}: {}", outcome.task_id, outcome.status, kind, outcome.reason
    )
    return outcome

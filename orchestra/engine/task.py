"""Take one claimed task through the boomerang workflow in its own clone, then verify and integrate.

The step runner is injected (the flow passes a Prefect task; tests may pass :func:`run_step`),
so this module stays free of Prefect.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from loguru import logger

from orchestra.agents import choose_model
from orchestra.config.models import WRITING_ROLES, StepConfig
from orchestra.engine.failures import (
    FailureClass,
    exception_failure_class,
    records_failure_class,
)
from orchestra.engine.handoff import Handoff, build_carry, fingerprint
from orchestra.engine.sequencer import StepSequencer
from orchestra.engine.step import StepContext, StepRecord
from orchestra.policy.loops import LoopDetector
from orchestra.project import Project
from orchestra.queue.taskfile import TaskFile
from orchestra.workspace.clone import (
    TaskWorkspace,
    commit_all,
    create_workspace,
    fetch_branch,
    remove_workspace,
    write_patch,
)
from orchestra.workspace.git import current_branch
from orchestra.workspace.integrate import fast_forward

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
    kind: FailureClass | None = None
    """Of a failure: task (costs an attempt), infrastructure or operator (they do not)."""

    @property
    def cost_usd(self) -> float:
        """Sum of the costs the agents reported."""
        return sum(s.cost_usd or 0.0 for s in self.steps)


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
            log_head=cfg.logging.agent_head_lines,
            log_tail=cfg.logging.agent_tail_lines,
            log_every_line=cfg.ui.debug,
        )

    def run(self, ctx: StepContext) -> StepRecord:
        """Run a step through the injected runner and remember it."""
        record = self.runner(ctx)
        self.records.append(record)
        return record


def _step_problem(step: StepConfig, record: StepRecord, role: str | None) -> str | None:
    """Why the task must end after this step: it failed, or a reviewer gave no verdict."""
    if not record.ok:
        return f"{step.id} ({step.worker}) {record.status}: {record.message}"
    if role == "reviewer" and record.verdict is None:
        return f"{step.id} ({step.worker}) gave no verdict (expected `Verdict: APPROVE` or `Verdict: CHANGES_REQUESTED`)"
    return None


def _steps_phase(tr: TaskRun, ws: TaskWorkspace) -> str | None:
    """Run the workflow's steps; return a failure reason or None."""
    wf = tr.project.config.workflows.roocode_boomerang
    roles = {wid: p.role for wid, p in tr.project.config.workers.items()}
    seq = StepSequencer(wf.steps, roles, wf.max_steps)
    loops = LoopDetector()
    while (step := seq.next()) is not None:
        if time.monotonic() >= tr.deadline:
            return f"task wall clock of {tr.project.config.limits.task_wall_clock} s used up before {step.id}"
        record = tr.run(tr.context(step, ws))
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
    record = tr.run(tr.context(gate, ws, verify=command))
    if record.ok:
        return None
    return f"verify `{command}` failed ({record.message}):\n{record.output_tail[-1500:]}"


def _integrate(tr: TaskRun, ws: TaskWorkspace, outcome: TaskOutcome) -> None:
    cfg = tr.project.config.git
    commit = commit_all(
        ws,
        message=f"{tr.task.task_id}: {tr.task.title}\n\nMade by Orchestra run {tr.run_id}.",
        author_name=cfg.author_name,
        author_email=cfg.author_email,
    )
    outcome.commit = commit
    if commit is None:
        outcome.integration = "no changes to integrate"
        return
    fetch_branch(tr.project.root, ws)
    outcome.branch = ws.branch
    outcome.integration = f"branch {ws.branch}"
    if cfg.integration == "patch":
        patch = write_patch(ws, tr.project.layout.done / f"{tr.task.task_id}-{commit[:12]}.patch")
        outcome.integration += f"; patch {patch}"
    elif cfg.integration == "merge":
        outcome.integration += "; " + fast_forward(tr.project.root, ws)


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
) -> TaskOutcome:
    """Run ``task`` in its own clone; never raises for the task's own failure."""
    limits = project.config.limits
    tr = TaskRun(project, task, run_id, run_dir, runner, time.monotonic() + limits.task_wall_clock)
    outcome = TaskOutcome(task.task_id, task.title, "failed", "", run_dir=run_dir)
    ws: TaskWorkspace | None = None
    try:
        base = project.config.git.base_branch or current_branch(project.root)
        ws = create_workspace(project.root, project.worktrees_dir, task.task_id, base)
        reason = _steps_phase(tr, ws) or _verify_phase(tr, ws)
        if reason is None:
            _integrate(tr, ws, outcome)
            outcome.status, outcome.reason = "done", "all steps passed"
        else:
            outcome.reason, outcome.kind = reason, _records_kind(tr.records)
    except Exception as exc:  # the task fails with the reason; the claim is settled by the caller
        outcome.kind = exception_failure_class(exc)
        if outcome.kind == "task":
            logger.opt(exception=True).error("{} crashed: {}", task.task_id, exc)
        outcome.status, outcome.reason = "failed", f"internal error: {type(exc).__name__}: {exc}"
        if outcome.kind == "infrastructure":
            outcome.reason = f"infrastructure: {exc}"
    finally:
        outcome.steps = tr.records
        if ws is not None:
            remove_workspace(ws.path)
    kind = f" ({outcome.kind})" if outcome.kind else ""
    logger.bind(task_id=task.task_id).info(
        "{} {}{}: {}", task.task_id, outcome.status, kind, outcome.reason
    )
    return outcome

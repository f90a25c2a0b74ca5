"""A person approves a result before it lands (``git.approval``), Prefect-free.

After review and verify passed, a task whose result needs approval asks the injected
:data:`Approver` (the flow passes one that pauses its Prefect run for a form; tests may pass
any callable) with an :class:`ApprovalRequest`: the diff stat, the verify result, the
reviewer's verdict and the cost. The answer is a :class:`Decision`:

- ``approve``: the result goes on to the merge queue;
- ``reject``: the task fails with the person's reason (nothing is kept on its branch, so a retry
  starts afresh rather than landing the rejected result);
- ``send_back``: the comment reaches the fixer as feedback for one more step, verify runs
  again, and the task asks again; bounded by the workflow's ``max_steps``;
- ``timeout``: nobody answered within ``git.approval_timeout``: the result is left on its
  branch, not merged, with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from loguru import logger

from orchestra.config.models import OrchestraConfig, StepConfig
from orchestra.engine.handoff import Handoff
from orchestra.engine.step import StepContext, StepRecord
from orchestra.project import Project
from orchestra.queue.taskfile import TaskFile
from orchestra.workspace.clone import TaskWorkspace

Action = Literal["approve", "reject", "send_back", "timeout"]


@dataclass(frozen=True)
class ApprovalRequest:
    """What the person sees before deciding."""

    task_id: str
    title: str
    diff_stat: str
    verify: str
    verdict: str
    cost_usd: float
    asked: int
    """How many times this task asked so far (1 the first time)."""

    def markdown(self) -> str:
        """The form's description (Prefect renders it above the fields)."""
        return (
            f"### {self.task_id}: {self.title}\n\n"
            f"- **verify**: {self.verify}\n- **reviewer**: {self.verdict}\n"
            f"- **cost**: ${self.cost_usd:.4f}\n- **asked**: {self.asked}\n\n"
            f"```\n{self.diff_stat or '(no changes)'}\n```\n\n"
            "Approve to merge, reject to fail the task, or send back with a comment for the "
            "fixer."
        )


@dataclass(frozen=True)
class Decision:
    """The person's answer (or the timeout's)."""

    action: Action
    comment: str = ""


Approver = Callable[[ApprovalRequest], Decision]


class StepHost(Protocol):
    """The task's step machinery (engine.task.TaskRun)."""

    project: Project
    records: list[StepRecord]
    blocks: list[tuple[str, Handoff]]

    def context(self, step: StepConfig, ws: TaskWorkspace) -> StepContext: ...

    def run(self, ctx: StepContext, ws: TaskWorkspace) -> StepRecord: ...


class TaskHost(StepHost, Protocol):
    """A StepHost that knows its task."""

    task: TaskFile


def needs_approval(config: OrchestraConfig) -> bool:
    """``always``: every result; ``merge``: a result that would be merged; ``none``: never."""
    mode = config.git.approval
    return mode == "always" or (mode == "merge" and config.git.integration == "merge")


def request_for(host: StepHost, ws: TaskWorkspace, task_id: str, title: str) -> ApprovalRequest:
    """The request for the result as the work tree holds it now."""
    ws.git("add", "--all")
    stat = ws.git("diff", "--cached", "--stat", ws.base_commit)
    verify = next((r for r in reversed(host.records) if r.step == "verify"), None)
    verdict = next((r.verdict for r in reversed(host.records) if r.verdict), None)
    asked = 1 + sum(1 for title_, _ in host.blocks if title_ == SENT_BACK)
    return ApprovalRequest(
        task_id=task_id,
        title=title,
        diff_stat=stat,
        verify="passed" if verify and verify.ok else "no verify command",
        verdict=verdict or "no reviewer verdict",
        cost_usd=sum(r.cost_usd or 0.0 for r in host.records),
        asked=asked,
    )


SENT_BACK = "Sent back by a person"


def fixer_of(project: Project) -> str | None:
    """The worker that takes a send-back: the workflow's fixer, else any worker with that role."""
    steps = project.config.workflows.roocode_boomerang.steps
    ids = [s.worker for s in steps] + sorted(project.config.workers)
    return next((w for w in ids if project.worker(w).role == "fixer"), None)


def send_back(host: StepHost, ws: TaskWorkspace, comment: str) -> str | None:
    """One more fixer step with the person's ``comment``; why the task must end, or None."""
    wf = host.project.config.workflows.roocode_boomerang
    ran = sum(1 for r in host.records if r.step != "verify")
    if ran >= wf.max_steps:
        return f"sent back by a person, but max_steps {wf.max_steps} is used up ({ran} steps ran)"
    worker = fixer_of(host.project)
    if worker is None:
        return "sent back by a person, but the workflow has no fixer to take the comment"
    host.blocks.append((SENT_BACK, Handoff(summary=comment or "(no comment)")))
    step = StepConfig(id="fix", worker=worker, title="Fix", prompt="fix")
    record = host.run(host.context(step, ws), ws)
    if not record.ok:
        return f"fix ({worker}) after a send-back {record.status}: {record.message}"
    host.blocks.append(("Fix", record.handoff))
    return None


def approval_phase(
    host: TaskHost,
    ws: TaskWorkspace,
    approver: Approver,
    verify: Callable[[TaskWorkspace], str | None],
) -> tuple[str | None, str]:
    """Ask until a person approves, rejects or the wait times out; a send-back runs the fixer
    and ``verify`` again first. Returns (why the task fails, why its result only waits)."""
    while True:
        decision = approver(request_for(host, ws, host.task.task_id, host.task.title))
        logger.bind(task_id=host.task.task_id, event="approval").info(
            "{}: {} {}", host.task.task_id, decision.action, decision.comment
        )
        if decision.action == "approve":
            return None, ""
        if decision.action == "reject":
            return f"rejected by a person: {decision.comment or '(no comment)'}", ""
        if decision.action == "timeout":
            return None, decision.comment or "not approved in time"
        if problem := send_back(host, ws, decision.comment) or verify(ws):
            return problem, ""


def no_approver(request: ApprovalRequest) -> Decision:
    """Where nobody can be asked (no flow run to pause): the result waits on its branch."""
    return Decision("timeout", f"nobody to ask for {request.task_id} (no flow run to pause)")

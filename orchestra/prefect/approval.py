"""A person's approval through Prefect: the task's flow run pauses with a form (the UI shows it
under "Resume"), and `orchestra approve|reject` answers the same form from a shell.

The wait is ``pause_flow_run(wait_for_input=...)``, not ``suspend_flow_run``: a task runs as a
subflow on one of the cycle's threads (or as a pool worker's run), and a suspended run must be
re-run from its deployment, which an ad-hoc cycle's subflow does not have. A pause blocks only
that task's thread; the cycle's other tasks go on (docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar
from uuid import UUID

from prefect.input import RunInput

from orchestra.engine.approval import Action, ApprovalRequest, Approver, Decision
from orchestra.errors import OrchestraError
from orchestra.prefect.runs import task_tag

T = TypeVar("T")
Choice = Literal["approve", "reject", "send back"]
ACTIONS: dict[str, Action] = {"approve": "approve", "reject": "reject", "send back": "send_back"}
POLL_S = 2
"""How often a paused task looks whether it was answered (Prefect's default is 10 s)."""


class ApprovalForm(RunInput):
    """The form: approve, reject, or send back with a comment for the fixer."""

    decision: Choice = "approve"
    comment: str = ""


def pause_for_approval(timeout_s: int) -> Approver:
    """An approver that pauses the current flow run until the form is answered."""
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run

    def ask(request: ApprovalRequest) -> Decision:
        form = ApprovalForm.with_initial_data(description=request.markdown(), decision="approve")
        try:
            answer = pause_flow_run(
                wait_for_input=form,
                timeout=timeout_s,
                poll_interval=POLL_S,
                key=f"approval-{request.asked}",
            )
        except FlowPauseTimeout:
            return Decision("timeout", f"no approval within git.approval_timeout ({timeout_s} s)")
        return Decision(ACTIONS[answer.decision], answer.comment.strip())

    return ask


def in_approval_subflow(task_id: str, timeout_s: int, body: Callable[[Approver], T]) -> T:
    """Run ``body`` (which asks through the approver it is given) as a flow run of its own:
    flow ``approve``, run ``<task-id>``, tagged with the task like its other runs.

    For a pool result, asked on the cycle's host: pausing "the current flow run" there would
    pause the whole cycle. The subflow is the run that pauses; only the thread that waited for
    the task's pool run waits with it. `orchestra approve|reject|send-back` finds it by tag.
    """
    from prefect import flow, tags

    @flow(name="approve", flow_run_name=task_id, validate_parameters=False)
    def approve() -> T:
        return body(pause_for_approval(timeout_s))

    with tags(task_tag(task_id)):
        return approve()


class NotWaiting(OrchestraError):
    """No flow run of that task waits for approval."""


def waiting_run(task_id: str) -> UUID:
    """The paused flow run of ``task_id`` (the newest, if several)."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[task_tag(task_id)]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])),
            ),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
    if not runs:
        msg = (
            f"no flow run of task {task_id!r} waits for approval; `orchestra status` lists the "
            "tasks, and a task that timed out is on its branch orchestra/<task-id>"
        )
        raise NotWaiting(msg)
    return runs[0].id


def answer(task_id: str, decision: Choice, comment: str = "") -> UUID:
    """Resume the waiting run of ``task_id`` with the form filled in; its id."""
    from prefect.flow_runs import resume_flow_run

    run_id = waiting_run(task_id)
    resume_flow_run(run_id, run_input={"decision": decision, "comment": comment})
    return run_id


def run_ended(run_id: UUID, timeout_s: float) -> str | None:
    """Wait up to ``timeout_s`` for the run to end; its final state's name (None: still on)."""
    import time

    from prefect import get_client

    end = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while time.monotonic() < end:
            state = client.read_flow_run(run_id).state
            if state is not None and state.is_final():
                return state.name
            time.sleep(0.5)
    return None

"""The Prefect task every step runs in: one task run per step, named for the UI.

The step's context and project go in quoted: Prefect would otherwise walk every field of the
project's config looking for futures, for each step. Which runs a cancel of stops the steps is
looked up once per flow run (:func:`watched_runs`), not per step: finding a subflow's root costs
three API reads. A task holds its agent slot across its agent steps
(:class:`~orchestra.prefect.limits.TaskSlot`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from orchestra.engine.sequencer import missing_verdict
from orchestra.engine.step import StepContext, StepRecord, run_step
from orchestra.engine.task import StepRunner
from orchestra.errors import StepFailed
from orchestra.policy.should_stop import ShouldStop
from orchestra.prefect.cancel import cancel_check
from orchestra.prefect.limits import TaskSlot
from orchestra.prefect.runs import RunProject


@task(
    name="step",
    task_run_name="{ctx.task_id} · {ctx.step_id} ({ctx.worker_id})",
    cache_policy=NO_CACHE,
    retries=0,
)
def step(ctx: StepContext, run: RunProject, watch: list[str], slot: TaskSlot) -> StepRecord:
    """Run one agent step; a failed step (or a review without a verdict) fails the task run
    but keeps its record. A cancel of
    any run in ``watch`` stops it. An agent step runs holding the task's agent slot."""
    runtime = run.runtimes.get(ctx.profile, ctx.run_id)
    cancelled = cancel_check(watch)
    # The verify gate is our own command, not an agent: it takes no agent slot.
    slot.take(agent=ctx.verify_command is None, timeout_s=ctx.timeout)
    record = run_step(ctx, runtime, should_stop=ShouldStop(run.project.root, cancelled))
    if not record.ok:
        said = record.message or record.status
        raise StepFailed(f"{record.step} ({record.worker}): {said}", record)
    if ctx.verify_command is None and (
        reason := missing_verdict(ctx.step_id, ctx.worker_id, ctx.profile.role, record.verdict)
    ):
        raise StepFailed(reason, record)  # the task fails on it: so does the step's task run
    return record


def watched_runs(cycle_run: str | None = None) -> list[str]:
    """This flow run and the cycle's (``cycle_run``, when the caller knows it; else the root)."""
    own = flow_run.get_id()
    outer = cycle_run or flow_run.get_root_flow_run_id()
    return list(dict.fromkeys(r for r in (own, outer) if r))


@contextmanager
def step_runner(run: RunProject, watch: list[str]) -> Iterator[StepRunner]:
    """A StepRunner for the engine that runs each step as a Prefect task run; the task's agent
    slot is given back on the way out, and what its runtimes kept for the steps is removed."""
    limits = run.project.config.limits
    slot = TaskSlot(limits.max_parallel_agents, limits.agent_starts_per_minute)

    def run_one(ctx: StepContext) -> StepRecord:
        try:
            record: StepRecord = step(quote(ctx), quote(run), watch, quote(slot))  # type: ignore[call-overload]
            return record
        except StepFailed as failed:
            if not isinstance(failed.record, StepRecord):
                raise
            return failed.record

    try:
        yield run_one
    finally:
        slot.release()
        run.runtimes.close()  # what the steps' runtimes kept for them (egress proxies)

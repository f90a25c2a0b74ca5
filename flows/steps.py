"""The Prefect task every step runs in: one task run per step, named for the UI."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from orchestra.engine.step import StepContext, StepFailed, StepRecord, run_step
from orchestra.engine.task import StepRunner
from orchestra.policy.stopwatch import StopWatcher
from orchestra.prefect.cancel import cancel_check
from orchestra.prefect.limits import agent_slot
from orchestra.prefect.runs import RunProject


@task(
    name="step",
    task_run_name="{ctx.task_id} · {ctx.step_id} ({ctx.worker_id})",
    cache_policy=NO_CACHE,
    retries=0,
)
def step(ctx: StepContext, run: RunProject) -> StepRecord:
    """Run one agent step; a failed step fails the task run but keeps its record."""
    runtime = run.runtimes.get(ctx.profile, ctx.run_id)
    cancelled = cancel_check([flow_run.get_id(), flow_run.get_root_flow_run_id()])
    limits = run.project.config.limits
    # The verify gate is our own command, not an agent: it takes no agent slot.
    agent = ctx.verify_command is None
    with agent_slot(
        limits.max_parallel_agents if agent else None,
        limits.agent_starts_per_minute if agent else None,
        timeout_s=ctx.timeout,
    ):
        record = run_step(ctx, runtime, should_stop=StopWatcher(run.project.root, cancelled))
    if not record.ok:
        raise StepFailed(record)
    return record


def step_runner(run: RunProject) -> StepRunner:
    """A StepRunner for the engine that runs each step as a Prefect task run."""

    def run_one(ctx: StepContext) -> StepRecord:
        try:
            return step(ctx, run)
        except StepFailed as failed:
            return failed.record

    return run_one

"""The Prefect task every step runs in: one task run per step, named for the UI."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from orchestra.engine.step import StepContext, StepFailed, StepRecord, run_step
from orchestra.policy.stopwatch import StopWatcher
from orchestra.project import Project


@task(
    name="step",
    task_run_name="{ctx.task_id} · {ctx.step_id} ({ctx.worker_id})",
    cache_policy=NO_CACHE,
    retries=0,
)
def step(ctx: StepContext, project: Project) -> StepRecord:
    """Run one agent step; a failed step fails the task run but keeps its record."""
    runtime = project.runtime(ctx.profile, ctx.run_id)
    watcher = StopWatcher(project.root, [flow_run.get_id(), flow_run.get_root_flow_run_id()])
    record = run_step(ctx, runtime, should_stop=watcher)
    if not record.ok:
        raise StepFailed(record)
    return record


def step_runner(project: Project):  # type: ignore[no-untyped-def]
    """A StepRunner for orchestra.taskrun that runs each step as a Prefect task run."""

    def run(ctx: StepContext) -> StepRecord:
        try:
            return step(ctx, project)
        except StepFailed as failed:
            return failed.record

    return run

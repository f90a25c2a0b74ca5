"""Flow "roocode-boomerang": one task through plan → implement → review → fix, then verify."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from flows.hooks import sweep_on_exit
from flows.pool_task import run_pool_job
from flows.steps import step_runner, watched_runs
from orchestra.engine.preflight import preflight
from orchestra.engine.settle import finish, load_claim, write_outcome
from orchestra.engine.spending import SpendGuard
from orchestra.engine.task import run_task
from orchestra.errors import RunFailed
from orchestra.policy.killswitch import kill_switch_reason
from orchestra.prefect.approval import pause_for_approval
from orchestra.prefect.artifacts import publish_task_artifact
from orchestra.prefect.runs import open_for_run, task_tag, untagged
from orchestra.report.markdown import task_markdown, write_task_report


@flow(
    name="roocode-boomerang",
    flow_run_name="{task_name}",
    log_prints=True,
    on_crashed=[sweep_on_exit],
    on_cancellation=[sweep_on_exit],
)
def roocode_boomerang(
    project: str,
    task_file: str,
    config_files: list[str] | None = None,
    run_dir: str | None = None,
    task_name: str = "task",
    pool_job: dict[str, Any] | None = None,
    cycle_run: str | None = None,
) -> State[Any]:
    """Run one task: claim it (unless the cycle already did), run its steps, archive or fail it.

    With ``pool_job`` (a run of the pool deployment, on any worker host) the task comes from the
    cycle instead: see :func:`flows.pool_task.run_pool_job`. ``cycle_run``: the flow run of the
    cycle that started this one (its cancel stops the steps too); found by the API when absent.
    """
    if pool_job is not None:
        return run_pool_job(pool_job)
    task_id = Path(task_file).name.removesuffix(".md")
    run = open_for_run(project, config_files or [], tags=[task_tag(task_id)])
    proj = run.project
    run_id = str(flow_run.get_id() or "local")
    path = Path(task_file)
    if path.parent.resolve() == proj.layout.running.resolve():
        claimed = load_claim(proj.queue, path)
    else:
        if reason := kill_switch_reason(proj.root):
            return Completed(name="Skipped", message=f"skipped: {reason}")
        preflight(proj, run.runtimes, run_id, include_planner=False)
        got = proj.queue.claim(path, run_id=run_id)
        if got is None:
            message = f"{path.name} could not be claimed (taken, or malformed: see rejected/)"
            return Failed(message=message, data=RunFailed(message))
        claimed = got
    folder = Path(run_dir) if run_dir else proj.runs_dir / run_id / claimed.task.task_id
    with step_runner(run, watched_runs(cycle_run)) as runner, untagged():
        guard = SpendGuard(proj, cycle=cycle_run or run_id)
        approver = pause_for_approval(proj.config.git.approval_timeout)
        outcome = run_task(
            proj,
            claimed.task,
            run_id=run_id,
            runner=runner,
            run_dir=folder,
            guard=guard,
            approver=approver,
        )
    report = write_task_report(outcome)
    publish_task_artifact(outcome, proj.project_id)
    where = finish(proj.queue, claimed, outcome, task_markdown(outcome))
    data = write_outcome(outcome, report=report, moved_to=where)
    if outcome.status == "done":
        return Completed(message=f"{outcome.task_id} done: {outcome.integration}", data=data)
    message = f"{outcome.task_id} failed: {outcome.reason}"
    return Failed(message=message, data=RunFailed(message, data))

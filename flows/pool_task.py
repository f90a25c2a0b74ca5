"""A task on a pool worker: clone the remote at the cycle's base, run the steps, push the branch.

Runs inside the ``roocode-boomerang`` flow run of the pool deployment (``pool_job`` given). The
queue is the cycle's: nothing here claims or settles; the outcome goes back as an artifact.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from flows.steps import step_runner, watched_runs
from orchestra.engine.pooljob import (
    PoolJob,
    checkout,
    day_base,
    push_on_worker,
    remove_work,
    worker_outcome,
)
from orchestra.engine.preflight import preflight
from orchestra.engine.spending import SpendGuard
from orchestra.engine.task import run_task
from orchestra.errors import RunFailed
from orchestra.prefect.artifacts import publish_task_artifact
from orchestra.prefect.pool import publish_outcome
from orchestra.prefect.runs import open_for_run, task_tag
from orchestra.queue.taskfile import parse_task
from orchestra.report.markdown import task_markdown


def run_pool_job(params: dict[str, Any]) -> State[Any]:
    """Run the task of ``params`` (a :class:`PoolJob`) here; its outcome as an artifact."""
    job = PoolJob.from_params(params)
    run_id = str(flow_run.get_id() or "local")
    work = Path(tempfile.mkdtemp(prefix=f"orchestra-pool-{job.task_id}-"))
    try:
        root, files, task_path = checkout(job, work)
        run = open_for_run(root, files, tags=[task_tag(job.task_id)])
        proj = run.project
        preflight(proj, run.runtimes, run_id, include_planner=False)
        task = parse_task(task_path, max_chars=proj.queue.max_task_chars)
        with step_runner(run, watched_runs(job.cycle_run or None)) as runner:
            # The cycle writes the ledger from the usage sent back; here the task cap holds,
            # and the daily caps against the ledger at the claim plus this task's steps.
            base = day_base(job)
            guard = SpendGuard(proj, cycle=job.cycle_run, write=False, day_base=base)
            outcome = run_task(
                proj, task, run_id=run_id, runner=runner, run_dir=work / "run", guard=guard
            )
        push_on_worker(proj, job, outcome)
        report = task_markdown(outcome)
        publish_task_artifact(outcome, proj.project_id)
        publish_outcome(worker_outcome(outcome, report))
    finally:
        remove_work(work)
    message = f"{outcome.task_id} {outcome.status} on {outcome.host}: {outcome.reason}"
    if outcome.status == "done":
        return Completed(message=message)
    return Failed(message=message, data=RunFailed(message))

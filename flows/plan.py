"""Flow "infinite-orchestra-plan": the planner fills the bounded queue from a staging folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from flows.steps import step_runner, watched_runs
from orchestra.engine.planner import plan
from orchestra.engine.preflight import preflight
from orchestra.errors import CycleError, CycleSkipped
from orchestra.policy.gates import cycle_lock
from orchestra.prefect.runs import RunProject, held_by_cycle, open_for_run, plan_run_name


@flow(name="infinite-orchestra-plan", flow_run_name=plan_run_name, log_prints=True)
def infinite_orchestra_plan(
    project: str,
    config_files: list[str] | None = None,
    goal: str | None = None,
    run_dir: str | None = None,
    memory: str = "",
) -> dict[str, Any]:
    """Run the planner once; valid task files move into the queue, invalid ones to rejected/.

    Run on its own (the planning deployment), it takes the project's cycle lock: two planners
    would share one planner clone. Called by a cycle, it runs under the cycle's lock.
    """
    run = open_for_run(project, config_files or [], goal=goal)
    if held_by_cycle(run.project.root):
        return _plan(run, run_dir, memory)
    try:
        with cycle_lock(run.project.root):
            return _plan(run, run_dir, memory)
    except CycleSkipped as skipped:
        return {"accepted": [], "rejected": [], "skipped": f"skipped: {skipped}"}


def _plan(run: RunProject, run_dir: str | None, memory: str) -> dict[str, Any]:
    proj = run.project
    run_id = str(flow_run.get_id() or "local")
    preflight(proj, run.runtimes, run_id)
    folder = Path(run_dir) if run_dir else proj.runs_dir / run_id
    with step_runner(run, watched_runs()) as runner:
        result = plan(proj, run_id=run_id, runner=runner, run_dir=folder, memory=memory)
    if result.record is not None and not result.record.ok:
        msg = f"planner failed: {result.record.message}"
        raise CycleError(msg)
    return {
        "accepted": [p.name for p in result.accepted],
        "rejected": [f"{name}: {reason}" for name, reason in result.rejected],
        "skipped": result.skipped,
    }

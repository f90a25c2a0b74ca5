"""Flow "infinite-orchestra": plan when the queue is empty, then run up to N tasks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.runtime import deployment, flow_run
from prefect.states import Completed, Failed

from flows.cycle_tasks import run_tasks
from flows.hooks import sweep_on_exit
from flows.plan import infinite_orchestra_plan
from orchestra.clock import utc_now
from orchestra.engine.ledger import Ledger
from orchestra.engine.preflight import preflight
from orchestra.engine.recall import memory_state, memory_summary, open_memory, remember
from orchestra.engine.spending import SpendGuard
from orchestra.engine.summary import CycleSummary
from orchestra.engine.usage import spent_line
from orchestra.errors import CycleError, CycleSkipped, RunFailed
from orchestra.memory import BestEffortStore
from orchestra.policy.breaker import FailureStreak, over_budget, pauses_schedule, stop_after
from orchestra.policy.cooldown import Cooldown
from orchestra.policy.gates import check_start, cycle_lock, record_cycle_start
from orchestra.policy.governor import CAP_MARK, next_day
from orchestra.prefect.artifacts import publish_cycle_artifact
from orchestra.prefect.docker_host import docker_host_client
from orchestra.prefect.governor import pause_for_cap, publish_usage_artifacts, resume_after_cap
from orchestra.prefect.heartbeat import cycle_heartbeat
from orchestra.prefect.limits import reset_if_ephemeral, scope_to_project
from orchestra.prefect.retention import prune_prefect_runs
from orchestra.prefect.runs import RunProject, cycle_run_name, holding, open_for_run
from orchestra.prefect.schedules import pause_deployment_schedules
from orchestra.project import Project
from orchestra.upkeep.retention import disk_usage
from orchestra.upkeep.tidy import tidy


@flow(
    name="infinite-orchestra",
    flow_run_name=cycle_run_name,
    log_prints=True,
    on_crashed=[sweep_on_exit],
    on_cancellation=[sweep_on_exit],
)
def infinite_orchestra(
    project: str = ".",
    config_files: list[str] | None = None,
    goal: str | None = None,
    max_tasks: int | None = None,
    plan_only: bool = False,
    scheduled: bool = False,
    trigger: Literal["infinite_orchestra", "self_improve_on_idle"] = "infinite_orchestra",
) -> State[Any]:
    """One cycle. Everything is checked before the first task is claimed.

    ``scheduled`` (set by the deployments) adds the idle gate and the daily budget, with the
    idle rule of ``trigger`` (workflows.triggers.<trigger>).
    """
    with cycle_heartbeat():
        return _started(project, config_files or [], goal, max_tasks, plan_only, scheduled, trigger)


def _started(
    project: str,
    files: list[str],
    goal: str | None,
    max_tasks: int | None,
    plan_only: bool,
    scheduled: bool,
    trigger: str,
) -> State[Any]:
    run = open_for_run(project, files, goal=goal, max_tasks=max_tasks)
    proj = run.project
    resume_after_cap(proj.root)  # a spending cap's pause ends when its day is over
    rule = getattr(proj.config.workflows.triggers, trigger)
    try:
        check_start(
            proj.root,
            scheduled=scheduled,
            idle_minutes=rule.idle_minutes,
            max_cycles=proj.config.limits.max_cycles_per_day,
            email=proj.config.git.author_email,
        )
        with cycle_lock(proj.root), holding(run):
            return _counted(run, files, goal, plan_only=plan_only)
    except CycleSkipped as skipped:
        return Completed(name="Skipped", message=f"skipped: {skipped}")


def _counted(run: RunProject, files: list[str], goal: str | None, *, plan_only: bool) -> State[Any]:
    """The cycle; a cycle that fails (planner, empty queue, outage) counts toward the breaker."""
    streak = FailureStreak.load(run.project.root)
    try:
        return _cycle(run, files, goal, plan_only=plan_only, streak=streak)
    except Exception as exc:
        streak.failure(f"cycle failed: {exc}")
        if tripped := streak.trip(run.project.config.limits.max_consecutive_failures):
            msg = f"{exc}; stopped: {tripped}{_pause_schedules()}"
            raise CycleError(msg) from exc
        raise


def _pause_schedules() -> str:
    """Pause the schedules of the deployment running this cycle; say what happened."""
    if not deployment.get_id():
        return ""
    paused = pause_deployment_schedules(str(deployment.get_id()))
    return f"; {paused} schedule(s) of this deployment paused"


def _cycle(
    run: RunProject,
    files: list[str],
    goal: str | None,
    *,
    plan_only: bool,
    streak: FailureStreak,
) -> State[Any]:
    proj = run.project
    run_id = str(flow_run.get_id() or "local")
    preflight(proj, run.runtimes, run_id)
    proj.queue.pending()  # an unreadable queue stops here, before anything moves
    record_cycle_start(proj.root, run_id)
    summary = CycleSummary(str(proj.root), str(proj.layout.queue), str(proj.runs_dir / run_id))
    tidied = tidy(proj, run_id, engine_client=docker_host_client)
    summary.recovered, summary.swept = tidied.recovered, len(tidied.containers)
    scope_to_project(proj.name)  # on the user-level server: limits of this project's own
    reset_if_ephemeral(proj.config.limits.max_parallel_agents)  # slots of killed runs
    # A rate limit's "try again in N s" from an earlier cycle: claim nothing until it passed.
    summary.stop_reason = Cooldown(proj.root).active()
    guard = SpendGuard(proj, cycle=run_id)
    summary.stop_reason = summary.stop_reason or guard.claim_stop() or guard.window_claim_stop()
    with open_memory(proj) as memory:
        if not summary.stop_reason:
            _plan(proj, files, goal, summary, memory)
        if not plan_only and not summary.stop_reason:
            _run_tasks(run, files, run_id, summary, memory, streak, guard)
        summary.memory = memory_state(memory)
    if pauses_schedule(summary.stop_reason):
        summary.stop_reason += _pause_schedules()
    elif CAP_MARK in summary.stop_reason and deployment.get_id():
        resume_at = next_day(utc_now(), proj.config.limits.time_zone)
        dep = str(deployment.get_id())
        summary.stop_reason += pause_for_cap(proj.root, dep, summary.stop_reason, resume_at)
    _usage(proj, run_id, summary, guard)
    summary.pruned_flow_runs = prune_prefect_runs(proj.config.limits.keep_days)
    summary.disk_mb = round(disk_usage(proj.root / ".orchestra") / 1_000_000, 1)
    return _finish(summary, proj.project_id)


def _plan(
    proj: Project,
    files: list[str],
    goal: str | None,
    summary: CycleSummary,
    memory: BestEffortStore,
) -> None:
    if proj.queue.pending():
        return  # plan only when the queue is empty
    planned = infinite_orchestra_plan(
        project=str(proj.root),
        config_files=files,
        goal=goal,
        run_dir=summary.runs_dir,
        memory=memory_summary(memory, proj),
    )
    summary.planned = list(planned["accepted"])
    summary.rejected = list(planned["rejected"])


def _run_tasks(
    run: RunProject,
    files: list[str],
    run_id: str,
    summary: CycleSummary,
    memory: BestEffortStore,
    streak: FailureStreak,
    guard: SpendGuard,
) -> None:
    proj = run.project
    wf = proj.config.workflows.infinite_orchestra
    pending = proj.queue.pending()
    if not pending:
        raise CycleError(f'No task files found in "{proj.layout.queue}"')

    def after_each(outcome: dict[str, Any]) -> str:
        """One task ended (completion order): remember it and apply the stop rules."""
        remember(memory, proj, run_id, outcome)
        streak.note_task(outcome)
        Cooldown(proj.root).note(outcome)
        return (
            stop_after(
                summary.tasks,
                continue_on_failure=wf.continue_on_failure,
                streak=streak,
                max_consecutive=proj.config.limits.max_consecutive_failures,
            )
            or over_budget(summary.tasks, proj.config.limits.max_cost_usd_per_cycle)
            or (guard.claim_stop() or guard.window_claim_stop())
        )

    run_tasks(run, files, summary, pending, run_id=run_id, after_each=after_each)


def _usage(proj: Project, run_id: str, summary: CycleSummary, guard: SpendGuard) -> None:
    """The cycle's spending on its summary line and in the usage artifacts."""
    today = guard.rows_today()
    mine = [r for r in Ledger(proj.root).rows() if r.cycle == run_id]
    if guard.caps.any or any(r.tokens or r.cost_usd for r in today):  # else nothing to say
        summary.usage = spent_line(mine, today, guard.caps)
        publish_usage_artifacts(proj.project_id, mine, today, guard.caps, guard.today())


def _finish(summary: CycleSummary, project_id: str) -> State[Any]:
    publish_cycle_artifact(summary.tasks, project_id, summary.headline())
    Path(summary.runs_dir).mkdir(parents=True, exist_ok=True)
    (Path(summary.runs_dir) / "cycle.json").write_text(
        json.dumps(summary.to_dict(), indent=2), encoding="utf-8"
    )
    if summary.failed:
        message = f"cycle finished with failures: {summary.headline()}"
        return Failed(message=message, data=RunFailed(message, summary.to_dict()))
    return Completed(message=summary.headline(), data=summary.to_dict())

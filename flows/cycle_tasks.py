"""The cycle's tasks, up to ``workflows.infinite_orchestra.parallel`` at once.

Each task is still a ``roocode-boomerang`` subflow run linked to the cycle. With ``parallel: 1``
it runs on the cycle's own thread, as it always did. With more, each runs inside a ``run-task``
task run submitted to a ``ThreadPoolTaskRunner`` of that size: Prefect's supported way to run
subflows concurrently from a sync flow (the wrapper task links the subflow to the cycle). Which
task starts when, and the order the cycle sees them end, is :mod:`orchestra.engine.parallel`.

Subflows run with Prefect's flow-run heartbeat off: a sync flow run joins its heartbeat thread on
exit, which costs up to 1 s per task; the cycle's own run keeps a heartbeat that stops at once
(:mod:`orchestra.prefect.heartbeat`). Each subflow is created with its tags and gets the cycle's
run id: it asks the API for neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from loguru import logger
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows.boomerang import roocode_boomerang
from flows.pool_runs import PoolRuns
from flows.steps import step_runner, watched_runs
from orchestra.engine.parallel import ParallelTasks, Running, run_parallel, side_by_side
from orchestra.engine.summary import CycleSummary, read_outcome
from orchestra.policy.killswitch import kill_switch_reason
from orchestra.prefect.cancel import cancel_check
from orchestra.prefect.heartbeat import quiet_flow_runs
from orchestra.prefect.limits import is_ephemeral
from orchestra.prefect.runs import RunProject, tagged_subflow
from orchestra.project import Project
from orchestra.queue.claims import Claimed

Outcome = dict[str, Any]

SQLITE_HINT = (
    "parallel: {k} on a SQLite-backed Prefect API (ephemeral, or Orchestra's server): parallel "
    "runs wait on 'database is locked' (client back-offs up to 32 s). Fix: a Postgres-backed "
    "server and PREFECT_API_URL pointing at it (docs/scale-out.md)"
)


def _subflow(
    project: str, task_file: str, config_files: list[str], run_dir: str, name: str, cycle: str
) -> str:
    with quiet_flow_runs(), tagged_subflow(Path(project), name):
        state = roocode_boomerang(
            project=project,
            task_file=task_file,
            config_files=config_files,
            run_dir=run_dir,
            task_name=name,
            cycle_run=cycle,
            return_state=True,
        )
    return str(state.message or state.name or "crashed")


@task(name="run-task", task_run_name="{task_name}", cache_policy=NO_CACHE, retries=0)
def run_task_subflow(
    project: str,
    task_file: str,
    config_files: list[str],
    run_dir: str,
    task_name: str,
    cycle_run: str,
) -> str:
    """One task's roocode-boomerang subflow on a runner thread; its final message."""
    return _subflow(project, task_file, config_files, run_dir, task_name, cycle_run)


class _Done:
    """The handle of a task that ran on the cycle's own thread (parallel: 1)."""

    def __init__(self, message: str) -> None:
        self.message = message


def run_tasks(
    run: RunProject,
    files: list[str],
    summary: CycleSummary,
    pending: Iterable[Path],
    *,
    run_id: str,
    after_each: Callable[[Outcome], str],
) -> None:
    """Claim and run the ``pending`` tasks; ``after_each`` records one outcome (in completion
    order) and returns why the cycle must take no more ('' to go on)."""
    proj = run.project
    wf = proj.config.workflows.infinite_orchestra
    if wf.dispatch == "pool":  # the merge queue verifies replayed pool results on this host
        with step_runner(run, watched_runs()) as runner:
            on_pool = PoolRuns.open(proj, run_id, runner)
            _run_tasks(proj, files, summary, pending, run_id, after_each, on_pool)
    else:
        _run_tasks(proj, files, summary, pending, run_id, after_each, None)


def _run_tasks(
    proj: Project,
    files: list[str],
    summary: CycleSummary,
    pending: Iterable[Path],
    run_id: str,
    after_each: Callable[[Outcome], str],
    on_pool: PoolRuns | None,
) -> None:
    wf = proj.config.workflows.infinite_orchestra
    k = wf.parallel
    if k > 1 and is_ephemeral():
        logger.warning(SQLITE_HINT, k=k)

    def claim(path: Path) -> Claimed | None:
        claimed = proj.queue.claim(path, run_id=run_id)
        if claimed is None:
            summary.rejected.append(f"{path.name}: malformed or taken (see rejected/)")
        return claimed

    def args(claimed: Claimed) -> tuple[str, str, list[str], str, str, str]:
        task_id = claimed.task.task_id
        folder = str(Path(summary.runs_dir) / task_id)
        return str(proj.root), str(claimed.task.path), files, folder, task_id, run_id

    def ended(running: Running[Any]) -> None:
        handle = running.handle
        task_id = running.task_id
        if on_pool is not None:
            outcome = on_pool.settle(running.claimed, handle, Path(summary.runs_dir) / task_id)
        else:
            message = handle.message if isinstance(handle, _Done) else _result(handle)
            outcome = read_outcome(Path(summary.runs_dir) / task_id, task_id, message)
        summary.tasks.append(outcome)
        # The first reason stands: a later success must not reopen a stopped cycle.
        reason = after_each(outcome)
        summary.stop_reason = summary.stop_reason or reason

    cancelled = cancel_check([flow_run.get_id()], reuse_for=1.0)

    def stop_reason() -> str:
        # `orchestra stop` or a cancel mid-cycle: claim nothing more.
        summary.stop_reason = summary.stop_reason or kill_switch_reason(proj.root)
        if not summary.stop_reason and summary.tasks and cancelled():
            summary.stop_reason = "operator stop: the cycle's flow run was cancelled"
        return summary.stop_reason

    def show(running: list[Running[Any]]) -> None:
        if k > 1 and running:
            ids = ", ".join(r.task_id for r in running)
            logger.bind(event="running").info("running {}/{}: {}", len(running), k, ids)

    if k == 1 and on_pool is None:
        one_at_a_time: ParallelTasks[Any] = ParallelTasks(
            k,
            wf.max_tasks_per_cycle,
            claim,
            lambda c: _Done(_subflow(*args(c))),
            list,
            ended,
            stop_reason,
        )
        run_parallel(one_at_a_time, pending)
    else:
        pool: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner(max_workers=k)
        with pool as runner:

            def start(claimed: Claimed) -> PrefectFuture[Any]:
                if on_pool is not None:
                    return on_pool.start(
                        runner, claimed, Path(summary.runs_dir) / claimed.task.task_id
                    )
                project, task_file, config_files, run_dir, name, cycle = args(claimed)
                params = {
                    "project": project,
                    "task_file": task_file,
                    "config_files": config_files,
                    "run_dir": run_dir,
                    "task_name": name,
                    "cycle_run": cycle,
                }
                return runner.submit(run_task_subflow, parameters=params)

            k_at_a_time = ParallelTasks(
                k, wf.max_tasks_per_cycle, claim, start, _first_done, ended, stop_reason, show
            )
            run_parallel(k_at_a_time, pending)
    alongside = side_by_side(summary.tasks)
    for outcome in summary.tasks:
        outcome["alongside"] = ", ".join(alongside.get(str(outcome.get("task")), []))


def _first_done(handles: Sequence[PrefectFuture[Any]]) -> list[PrefectFuture[Any]]:
    return [next(iter(as_completed(list(handles))))]


def _result(future: PrefectFuture[str]) -> str:
    try:
        return str(future.result())
    except Exception as exc:  # the wrapper crashed: the task fails with that reason
        return f"crashed: {type(exc).__name__}: {exc}"

"""The cycle's side of `dispatch: pool`: each claimed task runs as a run of the pool deployment.

A ``run-task-on-pool`` task run (on the cycle's ``ThreadPoolTaskRunner``) creates the run with
``run_deployment`` (so Prefect links it to the cycle as a subflow) and waits for it, watching its
heartbeats. The cycle settles each task itself when its run ends (one writer for the queue).

With ``git.approval: merge`` the same task run then asks a person about the result, in a
subflow of its own (flow ``approve``, run ``<task-id>``) that pauses: the cycle's thread goes
on claiming and settling other tasks, and settles this one when the answer (or the timeout)
is in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from orchestra.engine.approval import needs_approval
from orchestra.engine.ledger import Ledger, rows_from_outcome
from orchestra.engine.pooljob import PoolJob, approve_pool_result, job_for, settle_pool_task
from orchestra.engine.step import StepContext, StepRecord
from orchestra.engine.task import StepRunner
from orchestra.policy.killswitch import kill_switch_reason
from orchestra.prefect.approval import in_approval_subflow
from orchestra.prefect.pool import ensure_pool_deployment, start_on_pool, wait_for_run
from orchestra.project import Project
from orchestra.queue.claims import Claimed
from orchestra.workspace.git import current_branch, git
from orchestra.workspace.remote import check_remote, publish_base

Ask = Callable[[dict[str, Any]], dict[str, Any]]
"""Asks a person about a worker's outcome; the answer for settle_pool_task."""


@task(name="run-task-on-pool", task_run_name="{task_name}", cache_policy=NO_CACHE, retries=0)
def run_on_pool(
    job: dict[str, Any], task_name: str, wall_clock: float, project: str, ask: Ask | None = None
) -> dict[str, Any]:
    """One task as a run of the pool deployment (a linked subflow); how it ended, and with
    ``ask`` the person's answer about a result that is done."""
    params = {"project": ".", "task_file": job["task_file"], "task_name": task_name}
    run_id = start_on_pool({**params, "pool_job": job}, task_name)
    stop = partial(kill_switch_reason, Path(project))
    end = wait_for_run(run_id, wall_clock=wall_clock, stop=stop)
    sent = end.outcome
    done = isinstance(sent, dict) and sent.get("task") == task_name and sent.get("status") == "done"
    approval = None
    if (
        ask is not None
        and done
        and isinstance(sent, dict)
        and sent.get("commit")
        and not end.stopped
    ):
        approval = ask(sent)
    return {
        "state": end.state,
        "message": end.message,
        "outcome": sent,
        "lost": end.lost,
        "stopped": end.stopped,
        "approval": approval,
    }


@dataclass
class PoolRuns:
    """Starts claimed tasks on the pool and settles them as they end."""

    project: Project
    run_id: str
    remote: str
    base: str
    runner: StepRunner
    """Runs the merge queue's resolve and verify steps of a replayed result on this host."""
    published: set[str] = field(default_factory=set)
    jobs: dict[str, PoolJob] = field(default_factory=dict)
    steps_lock: threading.Lock = field(default_factory=threading.Lock)
    """One step at a time on this host: a send-back's fix (on a waiting task's thread) and the
    merge queue's resolve and verify (on the cycle's) share the runner."""

    @classmethod
    def open(cls, project: Project, run_id: str, runner: StepRunner) -> PoolRuns:
        """Check git.remote, publish the base, make sure the deployment exists: before any claim."""
        cfg = project.config
        pool = cls(project, run_id, check_remote(cfg.git.remote), "", runner)
        pool.runner = pool.one_at_a_time(runner)
        pool.base = cfg.git.base_branch or current_branch(project.root)
        pool.publish()
        ensure_pool_deployment(cfg.workflows.infinite_orchestra.pool)
        return pool

    def publish(self) -> str:
        """The base's commit now, pushed to the remote once (merge may have moved it)."""
        commit = git(self.project.root, "rev-parse", "--verify", f"{self.base}^{{commit}}")
        if commit not in self.published:
            publish_base(self.project.root, self.remote, commit)
            self.published.add(commit)
        return commit

    def one_at_a_time(self, runner: StepRunner) -> StepRunner:
        """``runner`` under :attr:`steps_lock`."""

        def run(ctx: StepContext) -> StepRecord:
            with self.steps_lock:
                return runner(ctx)

        return run

    def asker(self, claimed: Claimed, job: PoolJob, run_dir: Path) -> Ask | None:
        """What asks a person about this task's result, on its own thread; None: nobody
        (``git.approval: merge`` is for results the cycle would merge; ``always`` already
        paused the worker's run)."""
        cfg = self.project.config
        if not (cfg.git.approval == "merge" and needs_approval(cfg)):
            return None

        def ask(sent: dict[str, Any]) -> dict[str, Any]:
            def body(approver: Any) -> dict[str, Any]:
                args = (self.project, claimed, job, sent, run_dir, self.runner, approver)
                return approve_pool_result(*args)

            return in_approval_subflow(job.task_id, cfg.git.approval_timeout, body)

        return ask

    def start(
        self, runner: ThreadPoolTaskRunner[Any], claimed: Claimed, run_dir: Path
    ) -> PrefectFuture[Any]:
        """Submit the task's pool run (``run_dir``: the task's folder of this cycle)."""
        job = job_for(self.project, claimed, self.remote, self.base, self.publish(), self.run_id)
        self.jobs[job.task_id] = job
        params = {
            "job": job.to_params(),
            "task_name": job.task_id,
            "wall_clock": float(self.project.config.limits.task_wall_clock),
            "project": str(self.project.root),
            "ask": self.asker(claimed, job, run_dir),
        }
        return runner.submit(run_on_pool, parameters=params)

    def settle(self, claimed: Claimed, future: PrefectFuture[Any], run_dir: Path) -> dict[str, Any]:
        """Settle a task whose pool run ended; its outcome row."""
        job = self.jobs.pop(claimed.task.task_id)
        try:
            end: dict[str, Any] = future.result()
        except Exception as exc:  # the waiting task itself failed (API gone): not the task's fault
            end = {"outcome": None, "lost": f"waiting failed: {type(exc).__name__}: {exc}"}
        why = end.get("lost") or f"run {end.get('state')}: {end.get('message')}"
        sent, stopped = end.get("outcome"), str(end.get("stopped") or "")
        if isinstance(sent, dict):  # the worker's steps into the cycle's ledger (its one writer)
            cfg = self.project.config
            rows = rows_from_outcome(
                sent,
                profiles=cfg.workers,
                pricing=cfg.pricing,
                cycle=self.run_id,
                time_zone=cfg.limits.time_zone,
            )
            Ledger(self.project.root).append(rows)
        return settle_pool_task(
            self.project,
            claimed,
            job,
            sent,
            why,
            run_dir,
            runner=self.runner,
            stopped=stopped,
            approval=end.get("approval"),
        )

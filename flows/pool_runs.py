"""The cycle's side of `dispatch: pool`: each claimed task runs as a run of the pool deployment.

A ``run-task-on-pool`` task run (on the cycle's ``ThreadPoolTaskRunner``) creates the run with
``run_deployment`` (so Prefect links it to the cycle as a subflow) and waits for it, watching its
heartbeats. The cycle settles each task itself when its run ends (one writer for the queue).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from orchestra.engine.ledger import Ledger, rows_from_outcome
from orchestra.engine.pooljob import PoolJob, job_for, settle_pool_task
from orchestra.engine.task import StepRunner
from orchestra.policy.killswitch import kill_switch_reason
from orchestra.prefect.pool import ensure_pool_deployment, start_on_pool, wait_for_run
from orchestra.project import Project
from orchestra.queue.claims import Claimed
from orchestra.workspace.git import current_branch, git
from orchestra.workspace.remote import check_remote, publish_base


@task(name="run-task-on-pool", task_run_name="{task_name}", cache_policy=NO_CACHE, retries=0)
def run_on_pool(
    job: dict[str, Any], task_name: str, wall_clock: float, project: str
) -> dict[str, Any]:
    """One task as a run of the pool deployment (a linked subflow); how it ended."""
    params = {"project": ".", "task_file": job["task_file"], "task_name": task_name}
    run_id = start_on_pool({**params, "pool_job": job}, task_name)
    stop = partial(kill_switch_reason, Path(project))
    end = wait_for_run(run_id, wall_clock=wall_clock, stop=stop)
    return {
        "state": end.state,
        "message": end.message,
        "outcome": end.outcome,
        "lost": end.lost,
        "stopped": end.stopped,
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

    @classmethod
    def open(cls, project: Project, run_id: str, runner: StepRunner) -> PoolRuns:
        """Check git.remote, publish the base, make sure the deployment exists: before any claim."""
        cfg = project.config
        pool = cls(project, run_id, check_remote(cfg.git.remote), "", runner)
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

    def start(self, runner: ThreadPoolTaskRunner[Any], claimed: Claimed) -> PrefectFuture[Any]:
        """Submit the task's pool run."""
        job = job_for(self.project, claimed, self.remote, self.base, self.publish(), self.run_id)
        self.jobs[job.task_id] = job
        params = {
            "job": job.to_params(),
            "task_name": job.task_id,
            "wall_clock": float(self.project.config.limits.task_wall_clock),
            "project": str(self.project.root),
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
            self.project, claimed, job, sent, why, run_dir, runner=self.runner, stopped=stopped
        )

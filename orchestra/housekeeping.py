"""What a cycle tidies before it starts, so a crash leaves nothing the next cycle trips on.

In order: containers of dead owners are removed, dead claims go back to the queue (attempt
counted), clones no longer claimed are removed (agents still working in them are killed first),
old run folders are pruned. Task files are never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loguru import logger

from orchestra.gitops import orphan_workspaces, remove_workspace
from orchestra.planning import PLANNER_TASK_ID
from orchestra.project import Project
from orchestra.queue import default_is_alive
from orchestra.retention import prune_runs
from orchestra.runtime.process import kill_processes_in
from orchestra.sweeping import sweep_orphans


@dataclass
class Tidied:
    """What the start-of-cycle housekeeping found and did."""

    containers: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    clones: list[str] = field(default_factory=list)
    pruned_runs: int = 0


def tidy(project: Project, run_id: str) -> Tidied:
    """Run every start-of-cycle clean-up; call it while holding the cycle lock."""
    done = Tidied()
    done.containers = sweep_orphans(project)
    done.recovered = [p.name for p in project.queue.recover(default_is_alive)]
    done.clones = _remove_orphan_clones(project)
    keep = project.config.limits.keep_runs
    done.pruned_runs = len(prune_runs(project.runs_dir, keep=keep, current=run_id))
    return done


def _remove_orphan_clones(project: Project) -> list[str]:
    """Clones of tasks no longer claimed were left by a dead run (the planner's is its own):
    stop the agents still working in them, then remove them."""
    claimed = {p.stem for p in project.queue.listing()["running"]}
    orphans = orphan_workspaces(project.worktrees_dir, claimed | {PLANNER_TASK_ID})
    killed = kill_processes_in(orphans)
    for path in orphans:
        remove_workspace(path)
    if orphans:
        names = ", ".join(p.name for p in orphans)
        logger.info("removed clones left by dead runs: {} (killed pids {})", names, killed)
    return [p.name for p in orphans]

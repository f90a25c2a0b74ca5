"""Task clones left by dead runs (work trees and the host's git dirs): found, their agents
killed, removed."""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from orchestra.project import Project
from orchestra.upkeep.processes import kill_processes_in
from orchestra.workspace.clone import PLANNER_TASK_ID, remove_workspace


def orphan_workspaces(root: Path, keep: set[str]) -> list[Path]:
    """The clones under ``root`` not named in ``keep``: left by a run that died.

    Call it after recovering dead claims, with the task ids still in ``running/``: a clone
    whose task is not claimed belongs to a run that died before removing it.
    """
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name not in keep)


def remove_orphan_clones(project: Project) -> list[str]:
    """Clones of tasks no longer claimed were left by a dead run (the planner's is its own):
    stop the agents still working in them, then remove them."""
    claimed = {p.stem for p in project.queue.listing()["running"]}
    keep = claimed | {PLANNER_TASK_ID}
    orphans = orphan_workspaces(project.worktrees_dir, keep)
    killed = kill_processes_in(orphans)
    for path in orphans:
        remove_workspace(path, project.gitdirs_dir / path.name)
    # A git dir without its work tree (the run died between creating the two).
    gitdirs = orphan_workspaces(project.gitdirs_dir, keep)
    for path in gitdirs:
        remove_workspace(path)
    if orphans or gitdirs:
        names = ", ".join(sorted({p.name for p in orphans + gitdirs}))
        logger.info("removed clones left by dead runs: {} (killed pids {})", names, killed)
    return sorted({p.name for p in orphans + gitdirs})

"""Work trees and host git dirs left by a dead run are removed at the start of a cycle; those of
claimed tasks (and the planner's) stay."""

from __future__ import annotations

from pathlib import Path

from orchestra.project import open_project
from orchestra.upkeep.clones import remove_orphan_clones
from orchestra.workspace.clone import create_workspace


def test_orphan_work_trees_and_git_dirs_go(demo_project: Path) -> None:
    """A dead run's task-07 (both folders) and a git dir without work tree are removed."""
    proj = open_project(demo_project)
    ws = create_workspace(
        proj.root, proj.worktrees_dir / "task-07", proj.gitdirs_dir / "task-07", "task-07", "main"
    )
    lone = proj.gitdirs_dir / "task-08"
    lone.mkdir(parents=True)
    planner = proj.gitdirs_dir / "planner"
    planner.mkdir()
    removed = remove_orphan_clones(proj)
    assert removed == ["task-07", "task-08"]
    assert not ws.path.exists()
    assert not ws.git_dir.exists()
    assert not lone.exists()
    assert planner.exists()

"""The agent's own `.git` in its work tree: disposable, written by the host as plain files.

The agent may use git as usual (status, diff, log, commit) but nothing it writes there is
ever read by the host: the host commits from its own git dir (clone.py). Before each step the
folder is thrown away and written again at the task branch's tip, so a step never inherits
what an earlier one planted. Its ``objects/info/alternates`` names the user's object folder
*as the step sees it*: the read-only Docker mount (:data:`CONTAINER_OBJECTS_DIR` in
runtime/sandbox.py) or, for a process step, the real path. No git command runs in it on the
host.
"""

from __future__ import annotations

from dataclasses import replace

from orchestra.paths import remove_tree
from orchestra.workspace.clone import TaskWorkspace, copy_if_exists, write_git_dir


def reset_agent_git(ws: TaskWorkspace, objects_seen: str, tip: str | None = None) -> None:
    """(Re)create ``<work tree>/.git`` at the task branch's tip, discarding what is there.

    ``objects_seen``: the user's object folder as the step sees it. Call between steps, never
    while one runs, and only while the tip's objects are in the user's store (the base commit,
    or after the result was fetched). ``tip``: the branch's commit when the caller knows it.
    """
    tip = ws.git("rev-parse", "--verify", "HEAD") if tip is None else tip
    agent = ws.path / ".git"
    remove_tree(agent)  # never write through a link, nor open a FIFO, the step planted
    write_git_dir(replace(ws, base_commit=tip), agent, objects_seen)
    copy_if_exists(ws.git_dir / "index", agent / "index")  # `git status` clean and fast

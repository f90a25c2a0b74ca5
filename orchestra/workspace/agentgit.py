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

import shutil
from pathlib import Path

from orchestra.workspace.clone import TaskWorkspace, copy_if_exists


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def reset_agent_git(ws: TaskWorkspace, objects_seen: str) -> None:
    """(Re)create ``<work tree>/.git`` at the task branch's tip, discarding what is there.

    ``objects_seen``: the user's object folder as the step sees it. Call between steps, never
    while one runs, and only while the tip's objects are in the user's store (the base commit,
    or after the result was fetched).
    """
    tip = ws.git("rev-parse", "--verify", "HEAD")
    agent = ws.path / ".git"
    if agent.is_symlink() or agent.is_file():
        agent.unlink()  # never write through a link the step planted
    elif agent.exists():
        shutil.rmtree(agent)
    fmt = ws.object_format
    ext = "" if fmt == "sha1" else f"[extensions]\n\tobjectformat = {fmt}\n"
    _write(
        agent / "config",
        f"[core]\n\trepositoryformatversion = {0 if fmt == 'sha1' else 1}\n"
        f"\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n{ext}",
    )
    _write(agent / "HEAD", f"ref: refs/heads/{ws.branch}\n")
    _write(agent / "refs" / "heads" / ws.branch, f"{tip}\n")
    (agent / "refs" / "tags").mkdir(parents=True)
    (agent / "objects" / "pack").mkdir(parents=True)
    _write(agent / "objects" / "info" / "alternates", f"{objects_seen}\n")
    copy_if_exists(ws.git_dir / "index", agent / "index")  # `git status` clean and fast
    copy_if_exists(ws.common_dir / "info" / "exclude", agent / "info" / "exclude")
    copy_if_exists(ws.common_dir / "shallow", agent / "shallow")

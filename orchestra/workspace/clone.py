"""Git plumbing for task isolation: a self-contained clone per task, never the user's checkout.

Each task works in ``.orchestra/worktrees/<task-id>``, a ``git clone --local`` of the project
(objects hard-linked, so it is cheap) on branch ``orchestra/<task-id>``. A clone has a real
``.git`` folder, so git works inside a container too (a ``git worktree``'s ``.git`` file would
point at a host path). Results come back with ``git fetch`` into the project's refs only:
the user's working tree and index are never touched.

The clone's ``.git/info/exclude`` lists the agent CLIs' own files (caches, histories, state
folders: ``excludes``), so ``git add --all`` never commits them; it is written again before every
commit, because the agent could have rewritten or removed it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestra.workspace.git import git

#: The planner's clone is named like a task's; no task file is ever called that.
PLANNER_TASK_ID = "planner"


@dataclass(frozen=True)
class TaskWorkspace:
    """A task's own clone and the branch it works on."""

    path: Path
    branch: str
    base: str
    base_commit: str
    config: bytes = b""
    """`.git/config` as we created it; restored before the host runs git in the clone."""
    excludes: tuple[str, ...] = ()
    """gitignore patterns kept out of every commit (agent caches, histories, state folders)."""


def branch_name(task_id: str) -> str:
    """``orchestra/<task-id>``."""
    return f"orchestra/{task_id}"


def create_workspace(
    project: Path, root: Path, task_id: str, base: str, excludes: tuple[str, ...] = ()
) -> TaskWorkspace:
    """Clone ``project`` at ``base`` into ``root/<task-id>`` on a fresh task branch, with
    ``excludes`` in its `.git/info/exclude`."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / task_id
    if path.exists():
        shutil.rmtree(path)  # a leftover of a crashed cycle: ours, never the user's
    base_commit = git(project, "rev-parse", "--verify", f"{base}^{{commit}}")
    git(root, "clone", "--quiet", "--local", "--no-checkout", str(project), str(path))
    branch = branch_name(task_id)
    git(path, "checkout", "--quiet", "-B", branch, base_commit)
    config = (path / ".git" / "config").read_bytes()
    ws = TaskWorkspace(
        path=path,
        branch=branch,
        base=base,
        base_commit=base_commit,
        config=config,
        excludes=excludes,
    )
    _write_excludes(ws)
    return ws


def _write_excludes(ws: TaskWorkspace) -> None:
    """(Re)write the clone's `.git/info/exclude`; whatever the agent put there is replaced."""
    info = ws.path / ".git" / "info"
    if info.is_symlink() or (info.exists() and not info.is_dir()):
        info.unlink()
    info.mkdir(exist_ok=True)
    exclude = info / "exclude"
    if exclude.is_dir() and not exclude.is_symlink():
        shutil.rmtree(exclude)
    exclude.unlink(missing_ok=True)  # a symlink is replaced, never followed
    lines = ["# Orchestra: files agent CLIs leave behind, never committed", *ws.excludes]
    exclude.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _distrust(ws: TaskWorkspace) -> None:
    """Undo what an agent may have planted in the clone's `.git` (config, hooks)."""
    git_dir = ws.path / ".git"
    (git_dir / "config").unlink(missing_ok=True)  # a symlink is replaced, never followed
    (git_dir / "config").write_bytes(ws.config)
    shutil.rmtree(git_dir / "hooks", ignore_errors=True)
    _write_excludes(ws)


def commit_all(
    ws: TaskWorkspace, *, message: str, author_name: str, author_email: str
) -> str | None:
    """Commit every change in the clone; return the new commit, or None when nothing changed."""
    _distrust(ws)
    git(ws.path, "add", "--all")
    if not git(ws.path, "status", "--porcelain"):
        return None
    ident = ["-c", f"user.name={author_name}", "-c", f"user.email={author_email}"]
    git(ws.path, *ident, "commit", "--quiet", "--no-verify", "-m", message)
    return git(ws.path, "rev-parse", "HEAD")


def fetch_branch(project: Path, ws: TaskWorkspace) -> None:
    """Bring the task branch into the project's refs (working tree and index untouched)."""
    # No forced update: an existing orchestra/<task-id> of the user's is never replaced.
    git(project, "fetch", "--quiet", "--no-tags", str(ws.path), f"{ws.branch}:{ws.branch}")


def write_patch(ws: TaskWorkspace, dest: Path) -> Path:
    """Write the task's commits as one patch file."""
    _distrust(ws)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(
        git(ws.path, "format-patch", "--stdout", f"{ws.base_commit}..HEAD") + "\n", encoding="utf-8"
    )
    return dest


def remove_workspace(ws_path: Path) -> None:
    """Delete a task clone (our own folder under .orchestra/worktrees)."""
    shutil.rmtree(ws_path, ignore_errors=True)

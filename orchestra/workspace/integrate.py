"""The git side of the merge queue (engine/mergequeue.py): where a result lands, replaying it
onto a moved target, a conflict laid out for the resolve step, the fast-forward.

With `merge` the base is fast-forwarded without touching the checkout; with the base checked
out, results land on ``orchestra-landed/<base>`` instead. Landings are serialized by
:func:`integration_lock` (a file lock, so threads and processes alike). A result whose target
moved meanwhile (another task landed) is replayed by a three-way merge in the task's host-only
git dir (:func:`replay`), never git run on the agent's `.git`.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from orchestra.errors import ProjectError
from orchestra.workspace.clone import TaskWorkspace, commit_all, create_workspace
from orchestra.workspace.git import current_branch, git, git_ok
from orchestra.workspace.taskgit import task_git_status

#: Under the project's `.orchestra/`: held while a task's result enters the project's refs.
LOCK_NAME = "integrate.lock"
#: With the base checked out, results land on ``orchestra-landed/<base>`` instead: a cycle
#: never touches the user's checkout (docs/decisions.md).
LANDED_PREFIX = "orchestra-landed/"
#: What git writes around each side of a conflict (a line starting with either is left over).
MARKERS = ("<<<<<<< ", ">>>>>>> ")


@contextmanager
def integration_lock(state_dir: Path) -> Iterator[None]:
    """One integration at a time per project (``state_dir`` is its `.orchestra/`)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    # Each holder opens its own descriptor: flock then excludes other threads of this process too.
    fd = os.open(state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def undo_rebase(ws: TaskWorkspace, commit: str) -> None:
    """Put the task branch and the work tree back on ``commit`` (its verified result)."""
    ref = f"refs/heads/{ws.branch}"
    ws.git("update-ref", ref, commit)
    ws.git("read-tree", "--reset", "-u", commit)


def landing_target(project: Path, base: str) -> tuple[str, str]:
    """(the branch a result lands on, its commit now): ``base`` itself, or with ``base``
    checked out ``orchestra-landed/<base>`` (started afresh from ``base`` when it does not
    exist or the user already merged it)."""
    base_commit = git(project, "rev-parse", "--verify", f"{base}^{{commit}}")
    if current_branch(project) != base:
        return base, base_commit
    landed = LANDED_PREFIX + base
    tip = git(project, "rev-parse", "--verify", "-q", f"refs/heads/{landed}", check=False)
    if tip and not git_ok(project, "merge-base", "--is-ancestor", tip, base_commit):
        return landed, tip
    return landed, base_commit


def advance(project: Path, target: str, branch: str, base: str) -> str:
    """Move ``target`` (from :func:`landing_target`) forward to ``branch``; say what happened."""
    if target == base:
        return fast_forward(project, branch, base)
    new = git(project, "rev-parse", "--verify", f"refs/heads/{branch}")
    old = git(project, "rev-parse", "--verify", "-q", f"refs/heads/{target}", check=False)
    moved = old and not git_ok(project, "merge-base", "--is-ancestor", old, new)
    if moved and not git_ok(project, "merge-base", "--is-ancestor", old, base):
        return f"not merged: {target} moved to {old[:12]} meanwhile; left on its branch"
    git(project, "update-ref", "-m", "orchestra: merge queue", f"refs/heads/{target}", new, old)
    return (
        f"landed on {target} (base {base!r} is checked out: a cycle leaves it alone; "
        f"`orchestra approve` or `git merge --ff-only {target}` brings it in)"
    )


def replay(
    ws: TaskWorkspace, onto: str, commit: str, *, author_name: str, author_email: str
) -> list[str]:
    """Three-way merge of the result ``commit`` onto ``onto`` (the moved target), base the
    commit the clone started from; trees only, in the host git dir.

    Clean: the branch points at the new commit (the result's message) and the work tree
    holds it; returns []. Conflicted: the branch points at ``onto``, the work tree holds the
    merge with git's conflict markers, the index ``onto``; returns the conflicting paths.
    """
    rc, out, err = task_git_status(
        ws.git_dir,
        ws.path,
        "merge-tree",
        "--write-tree",
        "--name-only",
        "-z",
        f"--merge-base={ws.base_commit}",
        onto,
        commit,
    )
    if rc not in (0, 1) or not out:
        msg = f"git merge-tree of {commit[:12]} onto {onto[:12]} failed (exit {rc}): {err[:300]}"
        raise ProjectError(msg)
    # -z: the tree, NUL, each conflicting path, NUL; an empty field; then git's messages.
    head, _, _ = out.partition("\0\0")
    tree, *paths = head.split("\0")
    ref = f"refs/heads/{ws.branch}"
    if rc == 0:
        message = ws.git("log", "-1", "--format=%B", commit)
        ident = ["-c", f"user.name={author_name}", "-c", f"user.email={author_email}"]
        new = ws.git(*ident, "commit-tree", tree, "-p", onto, "-m", message)
        ws.git("update-ref", ref, new)
        ws.git("read-tree", "--reset", "-u", new)
        return []
    ws.git("update-ref", ref, onto)
    ws.git("read-tree", "--reset", "-u", tree)  # the merge, conflict markers and all
    ws.git("read-tree", "--reset", onto)  # the index: the target, so the merge shows as a change
    return sorted({p for p in paths if p})


def markers_left(ws: TaskWorkspace, paths: list[str]) -> list[str]:
    """Which of ``paths`` still hold a conflict marker line (read without following links)."""
    left = []
    for rel in paths:
        path = ws.path / rel
        if path.is_symlink() or not path.is_file():
            continue
        lines = path.read_bytes().decode(errors="replace").splitlines()
        if any(line.startswith(MARKERS) for line in lines):
            left.append(rel)
    return left


def commit_resolution(
    ws: TaskWorkspace, commit: str, *, author_name: str, author_email: str
) -> str | None:
    """Commit the resolved work tree on the target (the branch's parent), with the result's
    message; None when the resolution left nothing of the result."""
    message = ws.git("log", "-1", "--format=%B", commit)
    return commit_all(ws, message=message, author_name=author_name, author_email=author_email)


def result_workspace(
    project: Path,
    worktree: Path,
    git_dir: Path,
    task_id: str,
    base: str,
    commit: str,
    excludes: tuple[str, ...] = (),
) -> TaskWorkspace:
    """A work tree holding ``commit`` (a result already in ``project``, one commit on the
    commit its task started from), to rebase and verify it again: a retried or pool task."""
    ws = create_workspace(project, worktree, git_dir, task_id, base, excludes)
    start = git(project, "rev-parse", "--verify", f"{commit}^")
    ws = replace(ws, base_commit=start)
    ws.git("update-ref", f"refs/heads/{ws.branch}", commit)
    ws.git("read-tree", "--reset", "-u", commit)
    return ws


def fast_forward(project: Path, branch: str, base: str) -> str:
    """Fast-forward ``base`` to ``branch`` unless ``base`` is checked out; say what happened."""
    # `git fetch . a:b` only fast-forwards and refuses the checked-out branch: the user's
    # working tree and index stay untouched either way.
    if current_branch(project) == base:
        return f"base {base!r} is checked out, not merged; run `git merge --ff-only {branch}`"
    try:
        git(project, "fetch", ".", f"{branch}:{base}")
    except ProjectError as exc:
        return f"not merged (fast-forward only): {exc}"
    return f"fast-forwarded {base}"

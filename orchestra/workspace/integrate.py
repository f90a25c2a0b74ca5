"""Bring a task's result into the user's repository beyond its branch: with `merge` a
fast-forward of the base that never touches the checkout, with `patch` a patch file.

With parallel tasks the integration of each is serialized by :func:`integration_lock` (a file
lock, so threads and processes alike), and a task whose base moved meanwhile (another task was
merged) is rebased first (:func:`rebase_onto_base`): a three-way merge in the task's host-only
git dir, never git run on the agent's `.git`.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestra.errors import ProjectError
from orchestra.workspace.clone import TaskWorkspace
from orchestra.workspace.git import current_branch, git

#: Under the project's `.orchestra/`: held while a task's result enters the project's refs.
LOCK_NAME = "integrate.lock"


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


def base_moved(project: Path, ws: TaskWorkspace) -> bool:
    """Whether the base branch no longer points where the task's clone started."""
    now = git(project, "rev-parse", "--verify", "-q", f"{ws.base}^{{commit}}", check=False)
    return bool(now) and now != ws.base_commit


def rebase_onto_base(
    project: Path, ws: TaskWorkspace, *, author_name: str, author_email: str
) -> str | None:
    """Replay the task's result onto the project's current base and check it out into the
    work tree; None when done, else why not (nothing is changed then).

    The host git dir borrows the user's objects, so the moved base is readable there; the
    three-way merge (base the clone started from, the moved base, the result) runs on trees
    only, and the new commit keeps the result's message.
    """
    moved = git(project, "rev-parse", "--verify", f"{ws.base}^{{commit}}")
    ref = f"refs/heads/{ws.branch}"
    tip = ws.git("rev-parse", "--verify", ref)
    try:
        merged = ws.git(
            "merge-tree",
            "--write-tree",
            "--name-only",
            f"--merge-base={ws.base_commit}",
            moved,
            tip,
        )
    except ProjectError as exc:
        return f"rebase onto the moved base {ws.base!r} failed: {str(exc).splitlines()[0][:300]}"
    tree = merged.splitlines()[0]
    message = ws.git("log", "-1", "--format=%B", tip)
    ident = ["-c", f"user.name={author_name}", "-c", f"user.email={author_email}"]
    commit = ws.git(*ident, "commit-tree", tree, "-p", moved, "-m", message)
    ws.git("update-ref", ref, commit, tip)
    ws.git("read-tree", "--reset", "-u", commit)  # the work tree verify runs in
    return None


def undo_rebase(ws: TaskWorkspace, commit: str) -> None:
    """Put the task branch and the work tree back on ``commit`` (its verified result)."""
    ref = f"refs/heads/{ws.branch}"
    ws.git("update-ref", ref, commit)
    ws.git("read-tree", "--reset", "-u", commit)


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


def patch_of(project: Path, commit: str, dest: Path) -> Path:
    """Write ``commit`` (a result already in the user's repository) as a patch file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    text = git(
        project, "format-patch", "--stdout", "--binary", "--no-textconv", f"{commit}^..{commit}"
    )
    dest.write_text(text + "\n", encoding="utf-8")
    return dest

"""Bring a task's result into the user's repository: the result branch, and with `merge` a
fast-forward of the base that never touches the checkout.

With parallel tasks the integration of each is serialized by :func:`integration_lock` (a file
lock, so threads and processes alike), and a task whose base moved meanwhile (another task was
merged) is rebased in its own clone first (:func:`rebase_onto_base`).
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


def rebase_onto_base(project: Path, ws: TaskWorkspace) -> str | None:
    """Replay the task's commits on the project's current base, in the clone; None when done,
    else why not (the clone is left on its own commits then)."""
    git(ws.path, "fetch", "--quiet", "--no-tags", str(project), ws.base)
    try:
        git(ws.path, "-c", "core.editor=true", "rebase", "--quiet", "--no-autosquash", "FETCH_HEAD")
    except ProjectError as exc:
        git(ws.path, "rebase", "--abort", check=False)
        return f"rebase onto the moved base {ws.base!r} failed: {str(exc).splitlines()[-1][:300]}"
    return None


def fast_forward(project: Path, ws: TaskWorkspace) -> str:
    """Fast-forward the base to the task branch in the project's refs, or say why not."""
    # `git fetch . a:b` only fast-forwards and refuses the checked-out branch: the user's
    # working tree and index stay untouched either way.
    if current_branch(project) == ws.base:
        return f"base {ws.base!r} is checked out, not merged; run `git merge --ff-only {ws.branch}`"
    try:
        git(project, "fetch", "--quiet", ".", f"{ws.branch}:{ws.base}")
    except ProjectError as exc:
        return f"not merged (fast-forward only): {exc}"
    return f"fast-forwarded {ws.base}"

"""Bring a task's result into the user's repository: the result branch, and with `merge` a fast-forward of the base that never touches the checkout."""

from __future__ import annotations

from pathlib import Path

from orchestra.errors import ProjectError
from orchestra.workspace.clone import (
    TaskWorkspace,
)
from orchestra.workspace.git import current_branch, git


def fast_forward(project: Path, ws: TaskWorkspace) -> str:
    # `git fetch . a:b` only fast-forwards and refuses the checked-out branch: the user's
    # working tree and index stay untouched either way.
    if current_branch(project) == ws.base:
        return f"base {ws.base!r} is checked out, not merged; run `git merge --ff-only {ws.branch}`"
    try:
        git(project, "fetch", "--quiet", ".", f"{ws.branch}:{ws.base}")
    except ProjectError as exc:
        return f"not merged (fast-forward only): {exc}"
    return f"fast-forwarded {ws.base}"

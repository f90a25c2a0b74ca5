"""Bring a task's result into the user's repository beyond its branch: with `merge` a
fast-forward of the base that never touches the checkout, with `patch` a patch file."""

from __future__ import annotations

from pathlib import Path

from orchestra.errors import ProjectError
from orchestra.workspace.git import current_branch, git


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

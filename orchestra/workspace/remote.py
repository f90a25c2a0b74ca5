"""The project's git remote as the meeting point of a cycle and its pool workers (`dispatch: pool`).

- The cycle publishes its base commit under ``refs/orchestra/bases/<commit>`` on ``git.remote``
  (a ref of our own: no branch of the user's is touched, and the commit is a tip any git server
  hands out, whatever its ``uploadpack.allow*SHA1InWant`` settings).
- A worker makes a fresh clone of that commit (:func:`clone_at`), runs the task there, and pushes
  ``orchestra/<task-id>`` back (:func:`push_result`, never forced).
- The cycle fetches that branch into the project (:func:`fetch_result`) under the same rules as a
  local result: objects checked on the way in, the ref created by compare-and-swap or moved only
  forward from our own earlier result.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from orchestra.errors import ProjectError
from orchestra.workspace.clone import CHECKED_FETCH, branch_name, write_result_ref
from orchestra.workspace.git import git

_HEX = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def base_ref(commit: str) -> str:
    """The remote ref naming a cycle's base commit."""
    if not _HEX.match(commit):
        msg = f"base commit {commit!r} is not a full hex object id; pass `git rev-parse <base>`"
        raise ProjectError(msg)
    return f"refs/orchestra/bases/{commit}"


def check_remote(remote: str | None) -> str:
    """``git.remote`` is set and is not an option in disguise."""
    if not remote:
        msg = (
            "workflows.infinite_orchestra.dispatch: pool needs git.remote, the URL pool workers "
            "clone from and push to (e.g. git://git-host/project.git or file:///srv/project.git)"
        )
        raise ProjectError(msg)
    if remote.startswith("-"):
        msg = f"git.remote {remote!r} starts with '-'; set it to a repository URL"
        raise ProjectError(msg)
    return remote


def publish_base(project: Path, remote: str, commit: str) -> str:
    """Make ``commit`` of ``project`` reachable on ``remote``; return the ref it is under."""
    ref = base_ref(commit)
    # Same commit, same ref: pushing again is a no-op, and nothing else ever writes there.
    git(project, "push", "--quiet", "--no-verify", check_remote(remote), f"{commit}:{ref}")
    return ref


def clone_at(remote: str, commit: str, dest: Path, branch: str, task_id: str) -> Path:
    """A fresh repository in ``dest`` with ``branch`` checked out at ``commit`` from ``remote``.

    Also brings ``orchestra/<task-id>`` when the remote already has it (an earlier run pushed
    its result and died before the cycle settled it: the task then finishes without agents).
    """
    check_remote(remote)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    git(dest, "init", "--quiet", "-b", branch)
    # Into the unborn branch HEAD names (an empty repository: nothing checked out to protect).
    fetch = ("fetch", "--quiet", "--no-tags", "--update-head-ok", remote)
    git(dest, *fetch, f"+{base_ref(commit)}:refs/heads/{branch}")
    result = branch_name(task_id)
    git(
        dest,
        "fetch",
        "--quiet",
        "--no-tags",
        remote,
        f"+refs/heads/{result}:refs/heads/{result}",
        check=False,
    )
    git(dest, "reset", "--quiet", "--hard", commit)
    return dest


def push_result(clone: Path, remote: str, task_id: str) -> str:
    """Push ``orchestra/<task-id>`` of ``clone`` to ``remote`` (fast-forward only); its commit."""
    ref = f"refs/heads/{branch_name(task_id)}"
    commit = git(clone, "rev-parse", "--verify", ref)
    git(clone, "push", "--quiet", "--no-verify", check_remote(remote), f"{ref}:{ref}")
    return commit


def fetch_result(project: Path, remote: str, task_id: str) -> str:
    """Write ``orchestra/<task-id>`` from ``remote`` into ``project``; return its commit."""
    branch = branch_name(task_id)
    ref = f"refs/heads/{branch}"
    incoming = f"refs/orchestra/incoming/{task_id}"
    git(project, *CHECKED_FETCH, check_remote(remote), f"+{ref}:{incoming}")
    try:
        new = git(project, "rev-parse", "--verify", f"{incoming}^{{commit}}")
    finally:
        git(project, "update-ref", "-d", incoming, check=False)
    return write_result_ref(project, branch, new, source="the pool worker's result")

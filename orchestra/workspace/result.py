"""A task's result branch in the user's repository: written once, recognised on a retry.

Each result commit carries two trailers, ``Orchestra-Task: <task-id>`` and
``Orchestra-Task-Digest: <digest of the task text>``. A retry of a task whose earlier run
wrote its branch and then died before settling finds that commit and finishes without running
the agents again; a branch of the same name that Orchestra did not make for this task stops
the task before anything runs, with the reason.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from orchestra.errors import ProjectError
from orchestra.workspace.clone import DIGEST_TRAILER, TASK_TRAILER, branch_name
from orchestra.workspace.git import git


def task_digest(text: str) -> str:
    """A short digest of the task's text, stored in the result commit."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def result_trailers(task_id: str, text: str) -> dict[str, str]:
    """The trailers of the task's result commit."""
    return {TASK_TRAILER: task_id, DIGEST_TRAILER: task_digest(text)}


def earlier_result(project: Path, task_id: str, text: str) -> str | None:
    """The commit of this task's result from an earlier run, or None when there is no branch.

    Raises ProjectError when ``orchestra/<task-id>`` exists but is not this task's result.
    """
    branch = branch_name(task_id)
    tip = git(
        project, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False
    )
    if not tip:
        return None
    body = git(project, "log", "-1", "--format=%B", tip)
    found = {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in body.splitlines())
        if key.strip() in (TASK_TRAILER, DIGEST_TRAILER)
    }
    if found == result_trailers(task_id, text):
        return tip
    why = (
        "another task's text"
        if found.get(TASK_TRAILER) == task_id
        else "not Orchestra's result for it"
    )
    msg = (
        f"branch {branch} already exists at {tip[:12]} ({why}); refusing {task_id} so its "
        f"result cannot overwrite it. Rename or delete the branch (`git branch -m {branch} "
        f"<new-name>`), or give the task another number"
    )
    raise ProjectError(msg)

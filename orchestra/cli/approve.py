"""`orchestra approve|reject|send-back TASK`: answer a task that waits for a person, from a shell.

The same form the Prefect UI shows (orchestra/prefect/approval.py) is filled in and the task's
paused run resumed. Approving is the user's own act, so `approve` may do what a cycle never
does: once the task has landed, fast-forward the checked-out base to ``orchestra-landed/<base>``
when the user's work tree is clean, and say what it did (or why not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from orchestra.config.loader import load_config
from orchestra.workspace.git import current_branch, git, git_ok
from orchestra.workspace.integrate import LANDED_PREFIX

LAND_WAIT_S = 120.0
"""How long `approve` waits for the task to land before it leaves the checkout alone."""


def decide(
    root: Path, task_id: str, decision: Literal["approve", "reject", "send back"], comment: str
) -> list[str]:
    """Answer ``task_id``'s form on the project's Prefect API; the lines to print."""
    from orchestra.prefect.env import configure_prefect_env

    home = configure_prefect_env(root)  # before Prefect is imported
    from orchestra.prefect.approval import answer, run_ended
    from orchestra.prefect.connect import connect, prefect_settings

    api = connect(root, home)
    with prefect_settings(api):
        run_id = answer(task_id, decision, comment)
        lines = [f"{task_id}: {decision} sent to its run {api.link(run_id)}"]
        if decision != "approve":
            return lines
        state = run_ended(run_id, LAND_WAIT_S)
    if state is None:
        return [
            *lines,
            f"{task_id} has not ended within {LAND_WAIT_S:.0f} s; the checkout is left as it is",
        ]
    return [*lines, f"{task_id} ended ({state})", fast_forward_checkout(root)]


def fast_forward_checkout(root: Path) -> str:
    """Fast-forward the checked-out base to what landed for it, if the work tree is clean."""
    base = load_config(root).config.git.base_branch or current_branch(root)
    if current_branch(root) != base:
        return f"base {base!r} is not checked out: the merge queue fast-forwarded it itself"
    landed = LANDED_PREFIX + base
    tip = git(root, "rev-parse", "--verify", "-q", f"refs/heads/{landed}", check=False)
    if not tip or git_ok(root, "merge-base", "--is-ancestor", tip, "HEAD"):
        return f"nothing on {landed} that {base} lacks: the checkout is left as it is"
    if git(root, "status", "--porcelain", "--untracked-files=no"):
        return f"your work tree has changes: not touched; run `git merge --ff-only {landed}` when it is clean"
    if not git_ok(root, "merge-base", "--is-ancestor", "HEAD", tip):
        return f"{base} and {landed} have diverged: not touched; merge {landed} yourself"
    git(root, "merge", "--ff-only", "--quiet", landed)
    return f"fast-forwarded your checked-out {base} to {landed} ({tip[:12]})"

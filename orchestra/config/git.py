"""The `git:` section: where tasks start, how results land (the merge queue), who approves."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from orchestra.config.strict import Strict

Integration = Literal["branch", "merge", "patch"]


class GitConfig(Strict):
    base_branch: str | None = None
    """Branch tasks start from; default: the branch checked out in the project."""
    integration: Integration = "branch"
    """branch: leave `orchestra/<task-id>`; merge: fast-forward the base (after verify);
    patch: also write a patch into the archive."""
    author_name: str = "Orchestra"
    """Author of the commits Orchestra makes on task branches."""
    author_email: str = "orchestra@localhost"
    """Author e-mail of Orchestra's commits (the idle gate recognises it)."""
    worktrees_dir: str = ".orchestra/worktrees"
    """Where each task's own clone lives while it runs."""
    verify: str | None = None
    """Command that must pass in the task's clone before a task counts as done (a task's
    front matter `verify` wins)."""
    remote: str | None = None
    """Git URL every worker host clones the project from and pushes `orchestra/<task-id>`
    to, with `dispatch: pool` (e.g. git://git-host/project.git or file:///srv/project.git)."""
    approval: Literal["none", "merge", "always"] = "none"
    """A person approves a result before it lands: none; merge (results that would be merged,
    with `integration: merge`); always (every result). The task's flow run pauses with a form
    in the Prefect UI (approve, reject, send back with a comment); `orchestra approve|reject
    TASK` answers from a shell."""
    approval_timeout: int = Field(86400, ge=1)
    """Seconds a result waits for approval; then it is left on its branch, not merged."""
    resolve_worker: str | None = None
    """Worker of the merge queue's resolve step, run when a result conflicts with the moved
    base (told which files conflict); default: the workflow's fixer; `none`: conflicts stay
    on their branch."""

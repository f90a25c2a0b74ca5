"""Preflight: everything a cycle checks before the first task is claimed, so bad input stops
it with the fix and nothing moves (the queue reads, every prompt exists, every worker can run)."""

from __future__ import annotations

from orchestra.agents import executable
from orchestra.engine.prompting import prompt_text
from orchestra.errors import ConfigError
from orchestra.project import Project
from orchestra.runtime.pool import RuntimePool
from orchestra.workspace.git import current_branch, ensure_excluded, git
from orchestra.workspace.shape import check_shape


def prompt_names(project: Project, *, include_planner: bool = True) -> list[str]:
    """The prompt templates the workflow will render."""
    wf = project.config.workflows
    names = []
    if include_planner:
        names.append(project.worker(wf.infinite_orchestra.planner).prompt or "planner")
    for step in wf.roocode_boomerang.steps:
        names.append(step.prompt or project.worker(step.worker).prompt or step.id)
    return list(dict.fromkeys(names))


def check_worker(project: Project, runtimes: RuntimePool, worker_id: str, run_id: str) -> None:
    """Raise with the fix unless ``worker_id``'s runtime can start its agent."""
    profile = project.worker(worker_id)
    runtimes.get(profile, run_id).preflight(executable(profile.agent, profile.command))


def preflight(
    project: Project, runtimes: RuntimePool, run_id: str, *, include_planner: bool = True
) -> None:
    """Check the queue folder reads, the prompts exist and every worker can run, before
    anything is claimed; raises with the fix."""
    project.queue.pending()  # an unreadable queue_dir is bad input, like a bad config
    # Submodules, Git LFS, partial clones: refused with the reason before anything is claimed.
    check_shape(project.root, project.config.git.base_branch or current_branch(project.root))
    check_merge_target(project)
    for name in prompt_names(project, include_planner=include_planner):
        prompt_text(name)  # a misspelt prompt fails here, not in the middle of a task
    for worker_id in project.workflow_workers(include_planner=include_planner):
        check_worker(project, runtimes, worker_id, run_id)


def check_merge_target(project: Project) -> None:
    """With ``integration: merge`` and no ``base_branch``, HEAD must be on a branch.

    A detached HEAD has no branch to fast-forward: the base would be a commit hash, and the
    merge would create a branch named after it.
    """
    cfg = project.config.git
    if cfg.integration != "merge" or cfg.base_branch:
        return
    if git(project.root, "symbolic-ref", "-q", "HEAD", check=False):
        return
    head = git(project.root, "rev-parse", "--short", "HEAD", check=False) or "?"
    msg = (
        f"HEAD is detached (at {head}) in {str(project.root)!r}, and git.integration is merge: "
        "there is no branch to fast-forward. Check out a branch (`git switch <branch>`), set "
        "git.base_branch, or use git.integration: branch"
    )
    raise ConfigError(msg)


#: Our state folder, kept out of the user's `git status` through `.git/info/exclude`.
STATE_EXCLUDES = (".orchestra/",)


def exclude_state(project: Project) -> None:
    """Add `.orchestra/` to the repository's `.git/info/exclude` (not a tracked file), once."""
    ensure_excluded(project.root, STATE_EXCLUDES)

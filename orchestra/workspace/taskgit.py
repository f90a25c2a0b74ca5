"""Git on a task's host-owned git dir: nothing read from a file a step could write.

Every call is ``git --git-dir=<gitdirs/id> --work-tree=<worktrees/id>`` with all ``GIT_*``
variables removed, system and global config off and the :data:`SAFE_OPTS` below, so git reads
config, HEAD, refs, index, hooks, attributes and alternates only from the host's git dir. An
entry named ``.git`` inside an explicit work tree is never taken as a repository, so whatever
a step writes there (folder, file, symlink) is invisible to these calls.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from orchestra.errors import ProjectError

GIT_TIMEOUT = 300

#: Options for every call on a task's git dir. Its config is ours already; these are defence
#: in depth and switch off files git would otherwise read from outside that git dir.
SAFE_OPTS: tuple[str, ...] = tuple(
    arg
    for opt in (
        "core.hooksPath=/dev/null",  # no hooks, even if someone adds them to the git dir
        "core.fsmonitor=false",  # fsmonitor is a command run on every index refresh
        "core.attributesFile=/dev/null",  # the host user's global attributes: not the task's
        "core.excludesFile=/dev/null",  # ignores: the repo's own + the copied info/exclude
        "core.untrackedCache=false",
        "core.splitIndex=false",
        "core.autocrlf=false",
        "core.symlinks=true",  # a symlink is committed as a link, never followed
        "diff.external=",
        "diff.ignoreSubmodules=all",  # else git runs `git status` INSIDE nested repos
        "submodule.recurse=false",
        "gc.auto=0",
        "maintenance.auto=false",
    )
    for arg in ("-c", opt)
)


def isolated_env() -> dict[str, str]:
    """The environment of git on a task: no GIT_* from the host, only our git dir's config."""
    # GIT_DIR, GIT_INDEX_FILE, GIT_CONFIG_* inherited from a hook or CI would redirect or
    # reconfigure git; the repository is always named explicitly.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_ATTR_NOSYSTEM="1",
        GIT_NO_REPLACE_OBJECTS="1",
    )
    return env


def run_isolated(args: list[str], *, what: str) -> bytes:
    """Run ``git args`` isolated; a failure raises ProjectError with git's own message."""
    try:
        proc = subprocess.run(
            ["git", *args],
            env=isolated_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        msg = f"git {' '.join(args[-3:])} for {what} took over {GIT_TIMEOUT} s and was stopped"
        raise ProjectError(msg) from exc
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).decode(errors="replace").strip()
        shown = " ".join(a for a in args if not a.startswith("--git-dir") and a != "-c")
        msg = f"git failed for {what} (exit {proc.returncode}): {err or '(git printed nothing)'} [{shown[-300:]}]"
        raise ProjectError(msg)
    return proc.stdout


def task_git_status(git_dir: Path, work_tree: Path, *args: str) -> tuple[int, str, str]:
    """git on a task's host git dir whose exit status is an answer, not an error
    (``merge-tree`` exits 1 on a conflict): (status, stdout, stderr)."""
    argv = ["git", f"--git-dir={git_dir}", f"--work-tree={work_tree}", *SAFE_OPTS, *args]
    try:
        proc = subprocess.run(
            argv,
            env=isolated_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        msg = (
            f"git {' '.join(args[:2])} for task git dir {str(git_dir)!r} took over {GIT_TIMEOUT} s"
        )
        raise ProjectError(msg) from exc
    out = proc.stdout.decode(errors="surrogateescape")
    return proc.returncode, out, proc.stderr.decode(errors="replace").strip()


def task_git_bytes(git_dir: Path, work_tree: Path, *args: str) -> bytes:
    """git on a task's host git dir and work tree (bytes of stdout)."""
    return run_isolated(
        [f"--git-dir={git_dir}", f"--work-tree={work_tree}", *SAFE_OPTS, *args],
        what=f"task git dir {str(git_dir)!r}",
    )


def task_git(git_dir: Path, work_tree: Path, *args: str) -> str:
    """git on a task's host git dir and work tree (stdout as text, stripped)."""
    return task_git_bytes(git_dir, work_tree, *args).decode(errors="surrogateescape").strip()

"""Git plumbing for task isolation: a self-contained clone per task, never the user's checkout.

Each task works in ``.orchestra/worktrees/<task-id>``, a ``git clone --local`` of the project
(objects hard-linked, so it is cheap) on branch ``orchestra/<task-id>``. A clone has a real
``.git`` folder, so git works inside a container too (a ``git worktree``'s ``.git`` file would
point at a host path). Results come back with ``git fetch`` into the project's refs only:
the user's working tree and index are never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from orchestra.errors import ProjectError

GIT_TIMEOUT = 120


#: Applied to every git call: an agent may have written `.git/config` or hooks in its clone,
#: and nothing it wrote may run on the host.
SAFE_GIT = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null")


def _git_env(extra: dict[str, str] | None) -> dict[str, str]:
    # GIT_DIR, GIT_INDEX_FILE, ... inherited from a hook or CI would point git at another
    # repository (possibly the user's index); we always name the repository by cwd.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(extra or {})
    return env


def git(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
    """Run git in ``cwd`` and return stdout; failures raise ProjectError with git's message."""
    try:
        proc = subprocess.run(
            ["git", *SAFE_GIT, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
            env=_git_env(env),
        )
    except FileNotFoundError as exc:
        msg = "git is not installed or not on PATH; install git (apt-get install git)"
        raise ProjectError(msg) from exc
    except subprocess.TimeoutExpired as exc:
        msg = f"git {' '.join(args)} in {str(cwd)!r} took over {GIT_TIMEOUT} s and was stopped"
        raise ProjectError(msg) from exc
    if check and proc.returncode != 0:
        msg = f"git {' '.join(args)} failed in {str(cwd)!r}: {proc.stderr.strip() or proc.stdout.strip()}"
        raise ProjectError(msg)
    return proc.stdout.strip()


def check_project(project: Path) -> Path:
    """The project must exist, be a git repository and have a first commit."""
    if not project.is_dir():
        what = "is not a folder" if project.exists() else "does not exist"
        msg = f"project folder {str(project)!r} {what}; pass --project DIR of a git repository"
        raise ProjectError(msg)
    inside = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    if inside.returncode != 0:
        msg = f"project folder {str(project)!r} is not a git repository; run `git init` and commit, or pass --project"
        raise ProjectError(msg)
    head = subprocess.run(
        ["git", "rev-parse", "--verify", "-q", "HEAD"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    if head.returncode != 0:
        msg = (
            f"project {str(project)!r} has no commits yet; commit once so tasks can branch from it"
        )
        raise ProjectError(msg)
    return Path(inside.stdout.strip())


def current_branch(project: Path) -> str:
    """The checked-out branch name, or the HEAD commit when detached."""
    name = git(project, "symbolic-ref", "--short", "-q", "HEAD", check=False)
    return name or git(project, "rev-parse", "HEAD")


@dataclass(frozen=True)
class TaskWorkspace:
    """A task's own clone and the branch it works on."""

    path: Path
    branch: str
    base: str
    base_commit: str
    config: bytes = b""
    """`.git/config` as we created it; restored before the host runs git in the clone."""


def branch_name(task_id: str) -> str:
    """``orchestra/<task-id>``."""
    return f"orchestra/{task_id}"


def create_workspace(project: Path, root: Path, task_id: str, base: str) -> TaskWorkspace:
    """Clone ``project`` at ``base`` into ``root/<task-id>`` on a fresh task branch."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / task_id
    if path.exists():
        shutil.rmtree(path)  # a leftover of a crashed cycle: ours, never the user's
    base_commit = git(project, "rev-parse", "--verify", f"{base}^{{commit}}")
    git(root, "clone", "--quiet", "--local", "--no-checkout", str(project), str(path))
    branch = branch_name(task_id)
    git(path, "checkout", "--quiet", "-B", branch, base_commit)
    config = (path / ".git" / "config").read_bytes()
    return TaskWorkspace(
        path=path, branch=branch, base=base, base_commit=base_commit, config=config
    )


def _distrust(ws: TaskWorkspace) -> None:
    """Undo what an agent may have planted in the clone's `.git` (config, hooks)."""
    git_dir = ws.path / ".git"
    (git_dir / "config").unlink(missing_ok=True)  # a symlink is replaced, never followed
    (git_dir / "config").write_bytes(ws.config)
    shutil.rmtree(git_dir / "hooks", ignore_errors=True)


def commit_all(
    ws: TaskWorkspace, *, message: str, author_name: str, author_email: str
) -> str | None:
    """Commit every change in the clone; return the new commit, or None when nothing changed."""
    _distrust(ws)
    git(ws.path, "add", "--all")
    if not git(ws.path, "status", "--porcelain"):
        return None
    ident = ["-c", f"user.name={author_name}", "-c", f"user.email={author_email}"]
    git(ws.path, *ident, "commit", "--quiet", "--no-verify", "-m", message)
    return git(ws.path, "rev-parse", "HEAD")


def fetch_branch(project: Path, ws: TaskWorkspace) -> None:
    """Bring the task branch into the project's refs (working tree and index untouched)."""
    # No forced update: an existing orchestra/<task-id> of the user's is never replaced.
    git(project, "fetch", "--quiet", "--no-tags", str(ws.path), f"{ws.branch}:{ws.branch}")


def write_patch(ws: TaskWorkspace, dest: Path) -> Path:
    """Write the task's commits as one patch file."""
    _distrust(ws)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(
        git(ws.path, "format-patch", "--stdout", f"{ws.base_commit}..HEAD") + "\n", encoding="utf-8"
    )
    return dest


def remove_workspace(ws_path: Path) -> None:
    """Delete a task clone (our own folder under .orchestra/worktrees)."""
    shutil.rmtree(ws_path, ignore_errors=True)


def orphan_workspaces(root: Path, keep: set[str]) -> list[Path]:
    """The clones under ``root`` not named in ``keep``: left by a run that died.

    Call it after recovering dead claims, with the task ids still in ``running/``: a clone
    whose task is not claimed belongs to a run that died before removing it.
    """
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name not in keep)


def ensure_excluded(root: Path, entries: tuple[str, ...]) -> tuple[list[str], Path]:
    """Add ``entries`` to the repository's `.git/info/exclude` (not a tracked file) once each.

    Returns the entries added and the exclude file.
    """
    exclude = Path(git(root, "rev-parse", "--git-path", "info/exclude"))
    exclude = exclude if exclude.is_absolute() else root / exclude
    exclude.parent.mkdir(parents=True, exist_ok=True)
    lines = exclude.read_text(encoding="utf-8").splitlines() if exclude.exists() else []
    missing = [e for e in entries if e not in lines]
    if missing:
        with exclude.open("a", encoding="utf-8") as fh:
            if lines and lines[-1] != "":
                fh.write("\n")
            fh.write("\n".join(missing) + "\n")
    return missing, exclude

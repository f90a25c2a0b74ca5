"""Git on the host, run safely: every call with hooks and fsmonitor off and no inherited
``GIT_*`` variables but the user's own ``GIT_CONFIG_*``, errors with git's own message (a
repository another uid owns named as such, with the fix); plus the project checks and excludes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from orchestra.errors import ProjectError

GIT_TIMEOUT = 120


#: Applied to every git call: an agent may have written `.git/config` or hooks in its clone,
#: and nothing it wrote may run on the host.
SAFE_GIT = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null")


#: The user's own git configuration given in the environment (``safe.directory`` for a
#: repository another uid owns, say): kept, as the user's ``git`` reads it. They name no
#: repository and the agent cannot set them; our ``-c`` options still win over them.
USER_CONFIG_VARS = ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM")


def _user_config(name: str) -> bool:
    if name in USER_CONFIG_VARS or name == "GIT_CONFIG_COUNT":
        return True
    return name.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))


def _git_env(extra: dict[str, str] | None) -> dict[str, str]:
    # GIT_DIR, GIT_INDEX_FILE, ... inherited from a hook or CI would point git at another
    # repository (possibly the user's index); we always name the repository by cwd.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or _user_config(k)}
    env.update(extra or {})
    return env


def ownership_problem(cwd: Path, said: str) -> str | None:
    """What to tell the user when git refused ``cwd`` as owned by someone else, or None."""
    if "dubious ownership" not in said:
        return None
    try:
        owner = f"uid {cwd.stat().st_uid}"
    except OSError:
        owner = "another user"
    where = str(cwd)
    return (
        f"git refuses the repository {where!r}: it belongs to {owner} and this command runs as"
        f' uid {os.getuid()} (git\'s "dubious ownership" check). Run Orchestra as the'
        f" repository's owner, or trust it for your git: `git config --global --add"
        f" safe.directory {where}` (or, for this shell only, `export GIT_CONFIG_COUNT=1"
        f" GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0={where}`)"
    )


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
        said = proc.stderr.strip() or proc.stdout.strip() or "(git printed nothing)"
        msg = ownership_problem(cwd, said) or (
            f"git {' '.join(args)} failed in {str(cwd)!r} (exit {proc.returncode}): {said}"
        )
        raise ProjectError(msg)
    return proc.stdout.strip()


def git_ok(cwd: Path, *args: str) -> bool:
    """True when ``git args`` exits 0 (a question such as ``merge-base --is-ancestor``)."""
    proc = subprocess.run(
        ["git", *SAFE_GIT, *args],
        cwd=cwd,
        capture_output=True,
        timeout=GIT_TIMEOUT,
        check=False,
        env=_git_env(None),
    )
    return proc.returncode == 0


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
        env=_git_env(None),
    )
    if inside.returncode != 0:
        msg = ownership_problem(project, inside.stderr) or (
            f"project folder {str(project)!r} is not a git repository; run `git init` and"
            " commit, or pass --project"
        )
        raise ProjectError(msg)
    head = subprocess.run(
        ["git", "rev-parse", "--verify", "-q", "HEAD"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env=_git_env(None),
    )
    if head.returncode != 0:
        msg = (
            f"project {str(project)!r} has no commits yet; commit once so tasks can branch from it"
        )
        raise ProjectError(msg)
    return Path(inside.stdout.strip())


def find_root(path: Path) -> Path:
    """The top folder of the git repository ``path`` is in (so any subfolder finds it); ``path``
    itself when it is not in one (the caller's own checks then say what is wrong)."""
    path = path.expanduser().resolve()
    if not path.is_dir():
        return path
    done = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=path,
        capture_output=True,
        text=True,
        check=False,
        env=_git_env(None),
    )
    top = done.stdout.strip()
    return Path(top).resolve() if done.returncode == 0 and top else path


def current_branch(project: Path) -> str:
    """The checked-out branch name, or the HEAD commit when detached."""
    name = git(project, "symbolic-ref", "--short", "-q", "HEAD", check=False)
    return name or git(project, "rev-parse", "HEAD")


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

"""The per-task workspace: a work tree the step may change, and a git dir only the host uses.

Layout (``<state>`` is ``.orchestra``)::

    <state>/worktrees/<task-id>/        work tree; the only task folder mounted into a step
    <state>/worktrees/<task-id>/.git/   the agent's disposable repository (see agentgit.py)
    <state>/gitdirs/<task-id>/          the host's git dir for the task; never mounted

The host git dir borrows the user's objects through ``objects/info/alternates``: no copies and
no hard links, so nothing a step writes is ever shared with the user's object store, and a
task costs its checked-out files plus an index. Every host call on the task goes through
:mod:`orchestra.workspace.taskgit` (nothing read from the work tree's ``.git``). The result is
committed with plumbing only (no hooks, no ``status``, no work-tree diff: a nested repository's
config would run its filters) and fetched into the user's repository from the host git dir.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestra.errors import ProjectError
from orchestra.paths import remove_tree
from orchestra.workspace.git import git, git_ok
from orchestra.workspace.taskgit import task_git, task_git_bytes

#: The planner's clone is named like a task's; no task file is ever called that.
PLANNER_TASK_ID = "planner"
#: Trailer naming the task in each result commit; a retry recognises its own result by it.
TASK_TRAILER = "Orchestra-Task"
DIGEST_TRAILER = "Orchestra-Task-Digest"
#: How a result comes into the user's repository: objects checked (git refuses e.g. a
#: `.gitmodules` with `update = !cmd`), no tags, no FETCH_HEAD, no submodules.
CHECKED_FETCH = (
    "-c",
    "fetch.fsckObjects=true",
    "fetch",
    "--quiet",
    "--no-tags",
    "--no-write-fetch-head",
    "--no-recurse-submodules",
)


@dataclass(frozen=True)
class TaskWorkspace:
    """A task's work tree, its host-only git dir and the branch it works on."""

    path: Path
    git_dir: Path
    branch: str
    base: str
    base_commit: str
    common_dir: Path
    """The user's (common) git dir: its objects, info/exclude and shallow are borrowed."""
    object_format: str = "sha1"
    excludes: tuple[str, ...] = ()
    """gitignore patterns kept out of every commit (agent caches, histories, state folders)."""

    @property
    def objects_dir(self) -> Path:
        """The user's object folder (mounted read-only into Docker steps)."""
        return self.common_dir / "objects"

    def git(self, *args: str) -> str:
        """git on the task, reading nothing a step could have written."""
        return task_git(self.git_dir, self.path, *args)

    def git_bytes(self, *args: str) -> bytes:
        """Like :meth:`git`, stdout as bytes."""
        return task_git_bytes(self.git_dir, self.path, *args)


def branch_name(task_id: str) -> str:
    """``orchestra/<task-id>``."""
    return f"orchestra/{task_id}"


def copy_if_exists(src: Path, dst: Path) -> None:
    """Copy a regular file (never a link: the step may rewrite its side)."""
    if src.is_file() and not src.is_symlink():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def common_dir(project: Path) -> Path:
    """The user's common git dir (``.git``, or the main one of a linked worktree)."""
    return Path(git(project, "rev-parse", "--path-format=absolute", "--git-common-dir"))


def write_git_dir(ws: TaskWorkspace, git_dir: Path, objects: str) -> None:
    """Write a git dir as plain files: HEAD on the task branch at the base commit, a config
    of ours only, alternates naming ``objects``, the user's ignores and shallow graft points.

    Written by hand rather than by `git init`: no template (no sample hooks), nothing we did
    not choose, and no extra git processes per task.
    """
    fmt = ws.object_format
    ext = "" if fmt == "sha1" else f"[extensions]\n\tobjectformat = {fmt}\n"
    files = {
        "HEAD": f"ref: refs/heads/{ws.branch}\n",
        "config": f"[core]\n\trepositoryformatversion = {0 if fmt == 'sha1' else 1}\n"
        f"\tfilemode = true\n\tbare = false\n\tlogallrefupdates = false\n{ext}",
        f"refs/heads/{ws.branch}": f"{ws.base_commit}\n",
        "objects/info/alternates": f"{objects}\n",
    }
    for name, text in files.items():
        path = git_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for folder in ("refs/tags", "objects/pack"):
        (git_dir / folder).mkdir(parents=True, exist_ok=True)
    # The user's ignores hold in the task too; a shallow repository needs its graft points.
    copy_if_exists(ws.common_dir / "info" / "exclude", git_dir / "info" / "exclude")
    if ws.excludes:  # the agent CLIs' own files: caches, histories, state folders
        with (git_dir / "info" / "exclude").open("a", encoding="utf-8") as fh:
            fh.write("\n# Orchestra: files agent CLIs leave behind, never committed\n")
            fh.write("".join(f"{pattern}\n" for pattern in ws.excludes))
    copy_if_exists(ws.common_dir / "shallow", git_dir / "shallow")


def create_workspace(
    project: Path,
    worktree: Path,
    git_dir: Path,
    task_id: str,
    base: str,
    excludes: tuple[str, ...] = (),
) -> TaskWorkspace:
    """Check out ``base`` of ``project`` into ``worktree`` with its own host git dir;
    ``excludes`` join the user's ignores there (the host's copy, which no step can write)."""
    if base.startswith("-"):  # would be read as an option below
        msg = f"base branch {base!r} starts with '-'; set git.base_branch to a branch name"
        raise ProjectError(msg)
    # One git call for the three facts (each line in order); a bad base fails with git's message.
    facts = git(
        project,
        "rev-parse",
        "--path-format=absolute",
        "--git-common-dir",
        "--show-object-format",
        f"{base}^{{commit}}",
    ).splitlines()
    if len(facts) != 3:
        msg = f"cannot resolve {base!r} to one commit in {str(project)!r}: got {facts!r}"
        raise ProjectError(msg)
    common, fmt, base_commit = Path(facts[0]), facts[1], facts[2]
    ws = TaskWorkspace(
        path=worktree,
        git_dir=git_dir,
        branch=branch_name(task_id),
        base=base,
        base_commit=base_commit,
        common_dir=common,
        object_format=fmt,
        excludes=excludes,
    )
    remove_workspace(ws.path, ws.git_dir)  # leftovers of a crashed run are ours
    ws.path.mkdir(parents=True)
    write_git_dir(ws, ws.git_dir, str(ws.objects_dir))
    ws.git("read-tree", "--reset", "-u", "HEAD")  # check out into the empty work tree
    return ws


def commit_all(
    ws: TaskWorkspace,
    *,
    message: str,
    author_name: str,
    author_email: str,
    trailers: dict[str, str] | None = None,
) -> str | None:
    """Commit the work tree as it is now; return the commit, or None when nothing changed.

    Call only after the step has stopped: git reads files from the work tree, and a live step
    could swap a checked path for a symlink between git's lstat and open.
    """
    ws.git("add", "--all")
    if not ws.git("diff-index", "--cached", "--name-only", "HEAD"):
        return None
    # Plumbing instead of `git commit`: no hooks, no commit.* / gpg config, no editor.
    tree = ws.git("write-tree")
    head = ws.git("rev-parse", "--verify", "HEAD")
    ident = ["-c", f"user.name={author_name}", "-c", f"user.email={author_email}"]
    lines = "".join(f"\n{k}: {v}" for k, v in (trailers or {}).items())
    text = f"{message.rstrip()}\n{lines}" if lines else message
    commit = ws.git(*ident, "commit-tree", tree, "-p", head, "-m", text)
    ws.git("update-ref", f"refs/heads/{ws.branch}", commit, head)
    return commit


def fetch_branch(project: Path, ws: TaskWorkspace, replaces: str | None = None) -> str:
    """Write ``orchestra/<task-id>`` in the project once; return its commit.

    The source is the host git dir (upload-pack reads only our config). The objects come in
    checked (``fetch.fsckObjects``: git refuses e.g. a `.gitmodules` with `update = !cmd`),
    without a destination ref; the ref is then created by compare-and-swap, or moved only
    forward from our own earlier result: a branch the user made or rewrote is never replaced.
    ``replaces``: the result this one was replayed from (the merge queue); the branch may be
    moved from exactly that commit too.
    """
    ref = f"refs/heads/{ws.branch}"
    new = ws.git("rev-parse", "--verify", ref)
    git(project, *CHECKED_FETCH, str(ws.git_dir), ref)
    return write_result_ref(project, ws.branch, new, source="this task's result", replaces=replaces)


def write_result_ref(
    project: Path, branch: str, new: str, *, source: str, replaces: str | None = None
) -> str:
    """Point ``branch`` of ``project`` at ``new`` (whose objects are already there); return it.

    The ref is created by compare-and-swap, or moved only forward from our own earlier result:
    a branch the user made or rewrote is never replaced. ``source`` names where ``new`` came
    from in the error.
    """
    ref = f"refs/heads/{branch}"
    old = git(project, "rev-parse", "--verify", "--quiet", ref, check=False)
    if old == new:
        return new
    if old and old != replaces and not git_ok(project, "merge-base", "--is-ancestor", old, new):
        msg = (
            f"branch {branch} in {str(project)!r} already exists at {old[:12]} and is not an "
            f"ancestor of {source} {new[:12]}; not overwriting it. Rename or delete that "
            f"branch (`git branch -m {branch} <new-name>`) and run the task again"
        )
        raise ProjectError(msg)
    # Fails if the ref changed since we read it (an empty old value: must not exist yet).
    git(project, "update-ref", "-m", "orchestra: task result", ref, new, old)
    return new


def write_patch(ws: TaskWorkspace, dest: Path) -> Path:
    """The task's commits since base as one mbox patch (tree to tree: no work tree read)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(
        ws.git_bytes(
            "format-patch",
            "--stdout",
            "--binary",
            "--no-textconv",
            f"{ws.base_commit}..refs/heads/{ws.branch}",
        )
    )
    return dest


def remove_workspace(worktree: Path, git_dir: Path | None = None) -> None:
    """Delete a task's folders; links and FIFOs a step planted are unlinked, never followed
    or opened (:func:`orchestra.paths.remove_tree`)."""
    for path in (worktree, git_dir):
        if path is not None:
            remove_tree(path)

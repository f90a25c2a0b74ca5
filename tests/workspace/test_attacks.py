"""Git attacks a step can mount through its workspace; each must leave the user's repo intact.

The "agent" is simulated by writing files straight into the workspace (including its
`.git`), exactly what a container with the workspace mounted read-write could do.
Commands an attack would like the host to run all `touch` a marker file; it must not exist.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestra.errors import ProjectError as WorkspaceError
from orchestra.workspace import agentgit, clone
from orchestra.workspace.clone import TaskWorkspace, fetch_branch, write_patch


def create_workspace(
    user: Path, root: Path, task: str, base: str, objects_mount: str | None
) -> TaskWorkspace:
    """A task workspace with the agent's `.git` as a step gets it."""
    ws = clone.create_workspace(
        user, root / "worktrees" / task, root / "gitdirs" / task, task, base
    )
    agentgit.reset_agent_git(ws, objects_mount or str(ws.objects_dir))
    return ws


def reset_agent_git(ws: TaskWorkspace) -> None:
    agentgit.reset_agent_git(ws, str(ws.objects_dir))


def commit_all(ws: TaskWorkspace, message: str, name: str, email: str) -> str | None:
    return clone.commit_all(ws, message=message, author_name=name, author_email=email)


def remove_workspace(ws: TaskWorkspace) -> None:
    clone.remove_workspace(ws.path, ws.git_dir)


TASK = "t1"
BRANCH = f"refs/heads/orchestra/{TASK}"
INTENDED = b"written by the agent\n"


def git(repo: Path, *args: str, input: bytes | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    env.update(
        GIT_AUTHOR_NAME="u",
        GIT_AUTHOR_EMAIL="u@x",
        GIT_COMMITTER_NAME="u",
        GIT_COMMITTER_EMAIL="u@x",
    )
    out = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, input=input, capture_output=True, check=True
    )
    return out.stdout.decode(errors="replace").strip()


def snapshot(repo: Path) -> dict[str, object]:
    """Everything the user would notice: refs, HEAD, index bytes, work tree bytes + modes."""
    files: dict[str, tuple[int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            data = str(p.readlink()).encode() if p.is_symlink() else p.read_bytes()
            files[str(p.relative_to(repo))] = (st.st_mode, data)
    return {
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "HEAD": (repo / ".git" / "HEAD").read_bytes(),
        "config": (repo / ".git" / "config").read_bytes(),
        "index": (repo / ".git" / "index").read_bytes(),
        "files": files,
    }


@pytest.fixture
def user(tmp_path: Path) -> Path:
    """A user's repo with history, a dirty work tree, a staged change and local excludes."""
    repo = tmp_path / "user"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("one\n")
    (repo / "secret.txt").write_text("TOP SECRET\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    (repo / "a.txt").write_text("one\ntwo\n")
    git(repo, "commit", "-q", "-am", "second")
    git(repo, "branch", "other", "HEAD~1")
    (repo / "a.txt").write_text("dirty, unstaged\n")
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")
    (repo / "untracked.txt").write_text("untracked\n")
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("build/\n")
    return repo


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "PWNED"


def run_task(
    user: Path,
    tmp_path: Path,
    attack: Callable[[TaskWorkspace], None],
    objects_mount: str | None = None,
) -> tuple[TaskWorkspace, str]:
    """Create a workspace, let the agent attack + make its change, then commit/fetch/patch."""
    ws = create_workspace(user, tmp_path / "orch", TASK, "main", objects_mount)
    (ws.path / "feature.txt").write_bytes(INTENDED)
    attack(ws)
    commit = commit_all(ws, "task result", "Orchestra", "orchestra@localhost")
    assert commit
    fetch_branch(user, ws)
    write_patch(ws, tmp_path / "out" / "task.patch")
    return ws, commit


def assert_safe(user: Path, before: dict[str, object], commit: str, marker: Path) -> None:
    assert not marker.exists(), "a command planted by the step ran on the host"
    git(user, "fsck", "--strict", "--no-dangling")  # raises on corruption
    after = snapshot(user)
    want_refs = sorted([*str(before["refs"]).splitlines(), f"{BRANCH} {commit}"])
    assert sorted(str(after["refs"]).splitlines()) == want_refs
    for key in ("HEAD", "config", "index", "files"):
        assert after[key] == before[key], key
    # the task's commit: based on main, carrying the agent's change
    assert git(user, "rev-parse", f"{commit}^") == git(user, "rev-parse", "main")
    assert git(user, "cat-file", "blob", f"{commit}:feature.txt") == INTENDED.decode().strip()
    assert git(user, "show", f"{commit}:a.txt") == "one\ntwo"


def check(
    user: Path, tmp_path: Path, marker: Path, attack: Callable[[TaskWorkspace], None], **kw: object
) -> tuple[TaskWorkspace, str]:
    before = snapshot(user)
    ws, commit = run_task(user, tmp_path, attack, **kw)  # type: ignore[arg-type]
    assert_safe(user, before, commit, marker)
    return ws, commit


def touch(marker: Path) -> str:
    return f"touch {marker}"


def filt(marker: Path) -> str:
    """A filter/textconv command for a git config file (quoted: `;` starts a comment)."""
    return f'"touch {marker}; cat"'


def positive_control(ws: TaskWorkspace, marker: Path, *args: str) -> None:
    """The payload is live: plain git run in the workspace (as before) does execute it."""
    assert not marker.exists()
    subprocess.run(["git", "-C", str(ws.path), *args], capture_output=True, check=False)
    assert marker.exists(), "the attack payload never fires; the test would prove nothing"


# --- the attacks ------------------------------------------------------------------------


def test_baseline_agent_git_works(user: Path, tmp_path: Path, marker: Path) -> None:
    def attack(ws: TaskWorkspace) -> None:
        # the agent's own git: clean at start except its new file, history visible
        status = git(ws.path, "status", "--porcelain")
        assert status == "?? feature.txt"
        assert git(ws.path, "log", "--format=%s") == "second\nfirst"
        (ws.path / "build").mkdir()
        (ws.path / "build" / "out.o").write_text("ignored by the user's info/exclude\n")

    ws, commit = check(user, tmp_path, marker, attack)
    assert git(user, "ls-tree", "-r", "--name-only", commit).splitlines() == [
        "a.txt",
        "feature.txt",
        "secret.txt",
    ]
    assert (tmp_path / "out" / "task.patch").read_text().count("feature.txt") >= 1
    # no file in the workspace or host git dir shares an inode with the user's .git
    user_inodes = {
        (p.stat().st_dev, p.stat().st_ino) for p in (user / ".git").rglob("*") if p.is_file()
    }
    for p in list(ws.path.rglob("*")) + list(ws.git_dir.rglob("*")):
        if p.is_file() and not p.is_symlink():
            assert (p.stat().st_dev, p.stat().st_ino) not in user_inodes
    remove_workspace(ws)
    assert not ws.path.exists() and not ws.git_dir.exists()


def test_commondir_redirect(user: Path, tmp_path: Path, marker: Path) -> None:
    def attack(ws: TaskWorkspace) -> None:
        (ws.path / ".git" / "commondir").write_text(f"{user / '.git'}\n")
        (ws.path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")

    check(user, tmp_path, marker, attack)


def test_head_points_at_user_branch(user: Path, tmp_path: Path, marker: Path) -> None:
    def attack(ws: TaskWorkspace) -> None:
        (ws.path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        (ws.path / ".git" / "gitdir").write_text(f"{user / '.git'}\n")

    check(user, tmp_path, marker, attack)


def test_packed_refs(user: Path, tmp_path: Path, marker: Path) -> None:
    first = git(user, "rev-parse", "main~1")

    def attack(ws: TaskWorkspace) -> None:
        (ws.path / ".git" / "packed-refs").write_text(
            f"# pack-refs with: peeled fully-peeled sorted\n{first} {BRANCH}\n"
            f"{first} refs/heads/main\n"
        )
        (ws.path / ".git" / "refs" / "heads" / "orchestra" / TASK).unlink()

    check(user, tmp_path, marker, attack)


def test_loose_refs(user: Path, tmp_path: Path, marker: Path) -> None:
    first = git(user, "rev-parse", "main~1")

    def attack(ws: TaskWorkspace) -> None:
        (ws.path / ".git" / "refs" / "heads" / "orchestra" / TASK).write_text(f"{first}\n")
        (ws.path / ".git" / "refs" / "heads" / "main").write_text(f"{first}\n")
        # and a symlinked refs dir straight into the user's repository
        (ws.path / ".git" / "refs-evil").symlink_to(user / ".git" / "refs")
        (ws.path / ".git" / "refs" / "tags").rmdir()
        (ws.path / ".git" / "refs" / "tags").symlink_to(user / ".git" / "refs" / "heads")

    check(user, tmp_path, marker, attack)


def test_alternates_and_precomputed_corrupt_objects(
    user: Path, tmp_path: Path, marker: Path
) -> None:
    """Plant objects named after the hash of the agent's own content, with other content.

    If host git looked in these dirs it would see the object "already present", skip
    writing it, and the user's repo would receive a dangling reference to garbage.
    """
    oid = git(user, "hash-object", "--stdin", input=INTENDED)
    evil = tmp_path / "evil-objects"

    def plant(objects: Path) -> None:
        path = objects / oid[:2] / oid[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"garbage, not zlib")

    def attack(ws: TaskWorkspace) -> None:
        plant(evil)
        plant(ws.path / ".git" / "objects")
        (ws.path / ".git" / "objects" / "info" / "alternates").write_text(f"{evil}\n")

    check(user, tmp_path, marker, attack)


def test_attributes_and_filter_config(user: Path, tmp_path: Path, marker: Path) -> None:
    def attack(ws: TaskWorkspace) -> None:
        (ws.path / ".git" / "info").mkdir(exist_ok=True)
        (ws.path / ".git" / "info" / "attributes").write_text("* filter=evil diff=evil\n")
        with (ws.path / ".git" / "config").open("a") as fh:
            fh.write(
                f'[filter "evil"]\n\tclean = {filt(marker)}\n'
                f"\tsmudge = {filt(marker)}\n\trequired = true\n"
                f'[diff "evil"]\n\ttextconv = {filt(marker)}\n'
            )
        # a work-tree .gitattributes naming a filter: host config defines none, so no-op
        (ws.path / ".gitattributes").write_text("* filter=evil diff=evil merge=evil\n")

    ws, commit = check(user, tmp_path, marker, attack)
    assert git(user, "cat-file", "blob", f"{commit}:.gitattributes").startswith("* filter=evil")
    positive_control(ws, marker, "add", "-A")


def test_hooks(user: Path, tmp_path: Path, marker: Path) -> None:
    names = [
        "pre-commit",
        "prepare-commit-msg",
        "commit-msg",
        "post-commit",
        "reference-transaction",
        "post-index-change",
        "pre-auto-gc",
        "post-checkout",
        "fsmonitor-watchman",
        "pre-push",
        "post-rewrite",
    ]

    def attack(ws: TaskWorkspace) -> None:
        for hooks in (ws.path / ".git" / "hooks", ws.path / "evilhooks"):
            hooks.mkdir(exist_ok=True)
            for name in names:
                (hooks / name).write_text(f"#!/bin/sh\n{touch(marker)}\n")
                (hooks / name).chmod(0o755)
        with (ws.path / ".git" / "config").open("a") as fh:
            fh.write(f"[core]\n\thooksPath = {ws.path / 'evilhooks'}\n")

    ws, _ = check(user, tmp_path, marker, attack)
    positive_control(
        ws,
        marker,
        "-c",
        "user.name=a",
        "-c",
        "user.email=a@x",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    )


def test_fsmonitor(user: Path, tmp_path: Path, marker: Path) -> None:
    def attack(ws: TaskWorkspace) -> None:
        with (ws.path / ".git" / "config").open("a") as fh:
            fh.write(f"[core]\n\tfsmonitor = {touch(marker)}\n\tuntrackedCache = true\n")

    ws, _ = check(user, tmp_path, marker, attack)
    positive_control(ws, marker, "status")


def test_command_config_keys(user: Path, tmp_path: Path, marker: Path) -> None:
    cmd = touch(marker)
    evil_include = tmp_path / "evil.gitconfig"
    evil_include.write_text(f"[core]\n\tfsmonitor = {cmd}\n")

    def attack(ws: TaskWorkspace) -> None:
        with (ws.path / ".git" / "config").open("a") as fh:
            fh.write(
                f"[core]\n\tsshCommand = {cmd}\n\tpager = {cmd}\n\teditor = {cmd}\n"
                f"\taskPass = {cmd}\n\tgitProxy = {cmd}\n"
                f"[pager]\n\tdiff = {cmd}\n\tlog = {cmd}\n"
                f"[diff]\n\texternal = {cmd}\n"
                f"[commit]\n\tgpgSign = true\n[gpg]\n\tprogram = {cmd}\n"
                f"[credential]\n\thelper = !{cmd}\n"
                f"[uploadpack]\n\tpackObjectsHook = {cmd}\n"
                f'[remote "origin"]\n\turl = ext::sh -c {cmd.replace(" ", "% ")}\n'
                f"[include]\n\tpath = {evil_include}\n"
            )

    ws, _ = check(user, tmp_path, marker, attack)
    positive_control(ws, marker, "status")  # via include.path


def test_object_rewrite_via_chmod(user: Path, tmp_path: Path, marker: Path) -> None:
    """Rewrite every object/pack file the step can reach (as `clone --local` hard-linked)."""

    def attack(ws: TaskWorkspace) -> None:
        for p in (ws.path / ".git").rglob("*"):
            if p.is_file() and not p.is_symlink():
                p.chmod(p.stat().st_mode | stat.S_IWUSR)
                p.write_bytes(b"rewritten by the agent")

    check(user, tmp_path, marker, attack)


def test_git_file_planted_in_work_tree(user: Path, tmp_path: Path, marker: Path) -> None:
    def attack(ws: TaskWorkspace) -> None:
        import shutil

        shutil.rmtree(ws.path / ".git")
        (ws.path / ".git").write_text(f"gitdir: {user / '.git'}\n")

    check(user, tmp_path, marker, attack)


def test_git_symlink_planted_in_work_tree(user: Path, tmp_path: Path, marker: Path) -> None:
    def attack(ws: TaskWorkspace) -> None:
        import shutil

        shutil.rmtree(ws.path / ".git")
        (ws.path / ".git").symlink_to(user / ".git")

    check(user, tmp_path, marker, attack)


def test_nested_repo_with_evil_config(user: Path, tmp_path: Path, marker: Path) -> None:
    """A nested repo becomes a gitlink; git must not run `status` (and its fsmonitor) in it."""

    def attack(ws: TaskWorkspace) -> None:
        sub = ws.path / "sub"
        git(sub.parent, "init", "-q", str(sub))
        (sub / "x").write_text("x\n")
        git(sub, "add", "x")
        git(sub, "commit", "-q", "-m", "x")
        with (sub / ".git" / "config").open("a") as fh:
            fh.write(
                f"[core]\n\tfsmonitor = {touch(marker)}\n"
                f'[filter "evil"]\n\tclean = {filt(marker)}\n'
            )
        (sub / ".git" / "info").mkdir(exist_ok=True)
        (sub / ".git" / "info" / "attributes").write_text("* filter=evil\n")
        (sub / "x").write_text("y\n")  # same size, other mtime: `git status` in sub re-hashes
        os.utime(sub / "x", (1e9, 1e9))
        # a second one whose .git file points at the user's repository
        (ws.path / "sub2").mkdir()
        (ws.path / "sub2" / ".git").write_text(f"gitdir: {user / '.git'}\n")

    ws, commit = check(user, tmp_path, marker, attack)
    modes = git(user, "ls-tree", commit, "sub", "sub2")
    assert all(line.startswith("160000") for line in modes.splitlines())  # gitlinks: hashes
    # what a host `git status` without diff.ignoreSubmodules=all does: runs sub's filter
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    subprocess.run(
        [
            "git",
            f"--git-dir={ws.git_dir}",
            f"--work-tree={ws.path}",
            "-c",
            "core.fsmonitor=false",
            "status",
        ],
        env=env,
        check=False,
        capture_output=True,
    )
    assert marker.exists()


def test_gitmodules_harmless(user: Path, tmp_path: Path, marker: Path) -> None:
    def attack(ws: TaskWorkspace) -> None:
        (ws.path / ".gitmodules").write_text(
            f'[submodule "evil"]\n\tpath = evil\n\turl = ext::sh -c touch% {marker}\n'
        )

    check(user, tmp_path, marker, attack)


def test_gitmodules_update_command_refused_at_fetch(
    user: Path, tmp_path: Path, marker: Path
) -> None:
    """fsck flags `update = !cmd` as an error: the fetch refuses it, nothing is imported."""
    before = snapshot(user)
    ws = create_workspace(user, tmp_path / "orch", TASK, "main", None)
    (ws.path / ".gitmodules").write_text(
        f'[submodule "evil"]\n\tpath = evil\n\turl = ./x\n\tupdate = !{touch(marker)}\n'
    )
    commit = commit_all(ws, "m", "n", "e@x")
    with pytest.raises(WorkspaceError, match="gitmodulesUpdate"):
        fetch_branch(user, ws)
    assert not marker.exists()
    assert snapshot(user) == before
    git(user, "fsck", "--strict")
    assert (
        commit
        and subprocess.run(
            ["git", "-C", str(user), "cat-file", "-e", commit], check=False
        ).returncode
    )


def test_symlinks_pointing_outside(user: Path, tmp_path: Path, marker: Path) -> None:
    def attack(ws: TaskWorkspace) -> None:
        (ws.path / "leak.txt").symlink_to(user / "secret.txt")
        (ws.path / "leakdir").symlink_to(user / ".git")
        (ws.path / "secret.txt").unlink()  # a tracked file replaced by a link
        (ws.path / "secret.txt").symlink_to("/etc/passwd")

    _, commit = check(user, tmp_path, marker, attack)
    tree = git(user, "ls-tree", commit)
    for name in ("leak.txt", "leakdir", "secret.txt"):
        assert any(line.startswith("120000") and line.endswith(name) for line in tree.splitlines())
    assert git(user, "cat-file", "blob", f"{commit}:leak.txt") == str(user / "secret.txt")
    # no blob of the result holds the secret: links were stored as links, never followed
    grep = subprocess.run(["git", "-C", str(user), "grep", "-q", "TOP SECRET", commit], check=False)
    assert grep.returncode == 1


def test_docker_objects_mount_path(user: Path, tmp_path: Path, marker: Path) -> None:
    ws, _ = check(user, tmp_path, marker, lambda ws: None, objects_mount="/orchestra/objects")
    alt = (ws.path / ".git" / "objects" / "info" / "alternates").read_text()
    assert alt == "/orchestra/objects\n"


def test_uppercase_git_dir_fails_loudly_but_safely(
    user: Path, tmp_path: Path, marker: Path
) -> None:
    """`.GIT/` is refused by git (core.protectNTFS): commit fails, user's repo untouched."""
    before = snapshot(user)
    ws = create_workspace(user, tmp_path / "orch", TASK, "main", None)
    (ws.path / ".GIT").mkdir()
    (ws.path / ".GIT" / "config").write_text("[core]\n")
    with pytest.raises(WorkspaceError, match="invalid path"):
        commit_all(ws, "m", "n", "e@x")
    assert snapshot(user) == before


# --- publishing rules -------------------------------------------------------------------


def test_fetch_fast_forward_and_no_clobber(user: Path, tmp_path: Path) -> None:
    ws = create_workspace(user, tmp_path / "orch", TASK, "main", None)
    (ws.path / "f").write_text("1\n")
    c1 = commit_all(ws, "one", "n", "e@x")
    assert fetch_branch(user, ws) == c1
    (ws.path / "f").write_text("2\n")
    c2 = commit_all(ws, "two", "n", "e@x")
    assert fetch_branch(user, ws) == c2  # fast-forward of our own branch
    assert commit_all(ws, "nothing", "n", "e@x") is None
    users = git(user, "commit-tree", "-p", "other", "-m", "the user's", "main^{tree}")
    git(user, "update-ref", BRANCH, users)  # the user rewrote our branch
    (ws.path / "f").write_text("3\n")
    commit_all(ws, "three", "n", "e@x")
    with pytest.raises(WorkspaceError, match="not overwriting"):
        fetch_branch(user, ws)
    assert git(user, "rev-parse", BRANCH) == users


def test_project_is_linked_worktree(user: Path, tmp_path: Path, marker: Path) -> None:
    linked = tmp_path / "linked"
    git(user, "worktree", "add", "-q", str(linked), "other")
    ws = create_workspace(linked, tmp_path / "orch", TASK, "HEAD", None)
    assert ws.base_commit == git(user, "rev-parse", "other")
    (ws.path / "feature.txt").write_bytes(INTENDED)
    commit = commit_all(ws, "m", "n", "e@x")
    fetch_branch(linked, ws)
    assert git(user, "rev-parse", BRANCH) == commit
    git(user, "fsck", "--strict")


@pytest.mark.parametrize("shape", ["shared-clone", "shallow-clone", "sha256"])
def test_unusual_projects(user: Path, tmp_path: Path, shape: str) -> None:
    """Projects that borrow objects, lack history, or hash with SHA-256 still work."""
    proj = tmp_path / shape
    if shape == "shared-clone":  # its own objects/info/alternates -> user's objects
        git(tmp_path, "clone", "-q", "--shared", str(user), str(proj))
    elif shape == "shallow-clone":
        git(tmp_path, "clone", "-q", "--depth", "1", f"file://{user}", str(proj))
    else:
        git(tmp_path, "init", "-q", "--object-format=sha256", "-b", "main", str(proj))
        (proj / "a").write_text("a\n")
        git(proj, "add", "a")
        git(proj, "commit", "-q", "-m", "a")
    ws = create_workspace(proj, tmp_path / "orch", TASK, "HEAD", None)
    assert git(ws.path, "status", "--porcelain") == ""  # the agent's git sees a clean tree
    assert git(ws.path, "log", "--oneline")
    (ws.path / "feature.txt").write_bytes(INTENDED)
    commit = commit_all(ws, "m", "n", "e@x")
    assert fetch_branch(proj, ws) == commit
    git(proj, "fsck", "--strict", "--no-dangling")
    assert git(proj, "cat-file", "blob", f"{commit}:feature.txt") == INTENDED.decode().strip()


def test_next_step_gets_fresh_agent_git(user: Path, tmp_path: Path, marker: Path) -> None:
    """Between steps the agent's .git is rebuilt at the published tip; a planted symlink
    in its place is removed, not written through."""
    outside = tmp_path / "outside"
    outside.mkdir()

    def attack(ws: TaskWorkspace) -> None:
        import shutil

        shutil.rmtree(ws.path / ".git")
        (ws.path / ".git").symlink_to(outside)

    ws, commit = check(user, tmp_path, marker, attack)
    reset_agent_git(ws)
    assert list(outside.iterdir()) == []
    assert git(ws.path, "status", "--porcelain") == ""
    assert git(ws.path, "rev-parse", "HEAD") == commit
    assert git(ws.path, "log", "--format=%s") == "task result\nsecond\nfirst"

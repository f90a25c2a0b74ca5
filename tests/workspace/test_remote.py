"""The git remote between a cycle and its pool workers, on real repositories (file:// remote)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestra.errors import ProjectError
from orchestra.workspace.remote import (
    base_ref,
    check_remote,
    clone_at,
    fetch_result,
    publish_base,
    push_result,
)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, str, str]:
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / "a.txt").write_text("a\n", encoding="utf-8")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "one")
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    return project, f"file://{bare}", git(project, "rev-parse", "HEAD")


def worker_commit(clone: Path, task_id: str, text: str) -> str:
    git(clone, "checkout", "-q", "-b", f"orchestra/{task_id}")
    (clone / "b.txt").write_text(text, encoding="utf-8")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", task_id)
    return git(clone, "rev-parse", "HEAD")


def test_round_trip(setup: tuple[Path, str, str], tmp_path: Path) -> None:
    """Base published under our own ref, cloned by a worker, its branch pushed and fetched."""
    project, remote, base = setup
    assert publish_base(project, remote, base) == f"refs/orchestra/bases/{base}"
    assert git(project, "ls-remote", remote, "refs/heads/*") == ""  # no user branch touched
    clone = clone_at(remote, base, tmp_path / "w", "main", "task-1")
    assert git(clone, "rev-parse", "HEAD") == base
    assert (clone / "a.txt").read_text(encoding="utf-8") == "a\n"
    commit = worker_commit(clone, "task-1", "b\n")
    assert push_result(clone, remote, "task-1") == commit
    assert fetch_result(project, remote, "task-1") == commit
    assert git(project, "rev-parse", "orchestra/task-1") == commit
    assert "incoming" not in git(project, "for-each-ref")  # the temporary ref is gone


def test_earlier_result_comes_with_the_clone(setup: tuple[Path, str, str], tmp_path: Path) -> None:
    """A branch an earlier (dead) worker pushed is in the next worker's clone."""
    project, remote, base = setup
    publish_base(project, remote, base)
    first = clone_at(remote, base, tmp_path / "w1", "main", "task-2")
    commit = worker_commit(first, "task-2", "x\n")
    push_result(first, remote, "task-2")
    second = clone_at(remote, base, tmp_path / "w2", "main", "task-2")
    assert git(second, "rev-parse", "orchestra/task-2") == commit


def test_user_branch_never_overwritten(setup: tuple[Path, str, str], tmp_path: Path) -> None:
    """A branch of the same name that is not an ancestor of the result stays as it was."""
    project, remote, base = setup
    publish_base(project, remote, base)
    git(project, "checkout", "-q", "-b", "orchestra/task-3")
    (project / "mine.txt").write_text("mine\n", encoding="utf-8")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "mine")
    mine = git(project, "rev-parse", "HEAD")
    git(project, "checkout", "-q", "main")
    clone = clone_at(remote, base, tmp_path / "w", "main", "task-3")
    worker_commit(clone, "task-3", "theirs\n")
    push_result(clone, remote, "task-3")
    with pytest.raises(ProjectError, match="not overwriting"):
        fetch_result(project, remote, "task-3")
    assert git(project, "rev-parse", "orchestra/task-3") == mine


def test_push_is_never_forced(setup: tuple[Path, str, str], tmp_path: Path) -> None:
    """A second worker's different result does not replace the first one on the remote."""
    project, remote, base = setup
    publish_base(project, remote, base)
    one = clone_at(remote, base, tmp_path / "w1", "main", "task-4")
    first = worker_commit(one, "task-4", "one\n")
    push_result(one, remote, "task-4")
    two = clone_at(remote, base, tmp_path / "w2", "main", "task-5")
    worker_commit(two, "task-4", "two\n")
    with pytest.raises(ProjectError, match="push"):
        push_result(two, remote, "task-4")
    assert git(project, "ls-remote", remote, "refs/heads/orchestra/task-4").split()[0] == first


@pytest.mark.parametrize("remote", [None, "", "--upload-pack=touch /tmp/x"])
def test_bad_remote_named(remote: str | None) -> None:
    """No remote, or one that git would read as an option: refused with the key to set."""
    with pytest.raises(ProjectError, match=r"git\.remote"):
        check_remote(remote)


def test_base_must_be_an_object_id() -> None:
    """A branch name or an option is not a base commit."""
    with pytest.raises(ProjectError, match="full hex"):
        base_ref("main")

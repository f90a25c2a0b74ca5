"""`orchestra approve`'s own act on the checkout (orchestra/cli/approve.py), on real git: the
checked-out base is fast-forwarded to what landed only when the user's work tree is clean."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestra.cli.approve import fast_forward_checkout


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """`main` checked out, with one result landed on orchestra-landed/main."""
    root = tmp_path / "r"
    root.mkdir()
    (root / "a.txt").write_text("a\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=T", "-c", "user.email=t@x", "commit", "-qm", "start")
    git(root, "branch", "orchestra-landed/main")
    git(root, "checkout", "-q", "orchestra-landed/main")
    (root / "b.txt").write_text("b\n", encoding="utf-8")
    git(root, "add", "-A")
    git(root, "-c", "user.name=T", "-c", "user.email=t@x", "commit", "-qm", "landed")
    git(root, "checkout", "-q", "main")
    return root


def test_clean_tree_is_fast_forwarded(repo: Path) -> None:
    said = fast_forward_checkout(repo)
    assert said.startswith("fast-forwarded your checked-out main to orchestra-landed/main")
    assert git(repo, "rev-parse", "main") == git(repo, "rev-parse", "orchestra-landed/main")
    assert (repo / "b.txt").is_file()


def test_changed_tree_is_left_alone(repo: Path) -> None:
    (repo / "a.txt").write_text("mine\n", encoding="utf-8")
    head = git(repo, "rev-parse", "main")
    said = fast_forward_checkout(repo)
    assert "your work tree has changes: not touched" in said
    assert git(repo, "rev-parse", "main") == head
    assert (repo / "a.txt").read_text(encoding="utf-8") == "mine\n"


def test_diverged_base_is_left_alone(repo: Path) -> None:
    (repo / "c.txt").write_text("c\n", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=T", "-c", "user.email=t@x", "commit", "-qm", "mine")
    head = git(repo, "rev-parse", "main")
    assert "have diverged: not touched" in fast_forward_checkout(repo)
    assert git(repo, "rev-parse", "main") == head


def test_nothing_landed(repo: Path) -> None:
    git(repo, "merge", "-q", "--ff-only", "orchestra-landed/main")
    assert "nothing on orchestra-landed/main that main lacks" in fast_forward_checkout(repo)

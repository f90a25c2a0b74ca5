"""The merge queue on real git (engine/mergequeue.py): replay, resolve, verify, where it lands.

The checks are small real callables: verify reads the work tree, resolve edits it as an agent
would. No Prefect, no agent process: the cycle-level cases are tests/integration/
test_merge_queue.py and test_pool_merge_queue.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestra.engine.mergequeue import Checks, land
from orchestra.project import Project, open_project
from orchestra.workspace.clone import TaskWorkspace, commit_all, create_workspace

SHARED = "".join(f"line {n}\n" for n in range(1, 11))


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "p"
    root.mkdir()
    (root / "orchestra.yaml").write_text(
        "git:\n  base_branch: integration\n  integration: merge\n", encoding="utf-8"
    )
    (root / "shared.txt").write_text(SHARED, encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", "start")
    git(root, "branch", "integration")
    return open_project(root)


def result(
    project: Project, task_id: str, edit: str, base: str = "integration"
) -> tuple[TaskWorkspace, str]:
    """A task's workspace from ``base`` with ``edit`` (``append`` or ``first``) committed."""
    ws = create_workspace(
        project.root, project.worktrees_dir / task_id, project.gitdirs_dir / task_id, task_id, base
    )
    path = ws.path / "shared.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [task_id, *lines[1:]] if edit == "first" else [*lines, task_id]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    commit = commit_all(ws, message=f"{task_id}\n", author_name="T", author_email="t@x")
    assert commit is not None
    return ws, commit


def no_markers(ws: TaskWorkspace) -> str | None:
    text = (ws.path / "shared.txt").read_text(encoding="utf-8")
    return "conflict markers in shared.txt" if "<<<<<<<" in text else None


def keep_both(ws: TaskWorkspace, files: list[str]) -> str | None:
    for name in files:
        path = ws.path / name
        kept = [
            line
            for line in path.read_text(encoding="utf-8").splitlines()
            if not line.startswith(("<<<<<<<", "=======", ">>>>>>>"))
        ]
        path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return None


def cannot(ws: TaskWorkspace, files: list[str]) -> str | None:
    return f"resolve failed for {files}"


def shared(project: Project, ref: str) -> list[str]:
    return git(project.root, "show", f"{ref}:shared.txt").splitlines()


def test_edits_apart_replay_cleanly_and_verify_again(project: Project) -> None:
    """Two results from one base, edits apart: the second is replayed, verified, fast-forwarded."""
    first, c1 = result(project, "task-1", "append")
    second, c2 = result(project, "task-2", "first")
    verified: list[str] = []

    def verify(ws: TaskWorkspace) -> str | None:
        verified.append(ws.branch)
        return no_markers(ws)

    a = land(project, first, c1, Checks(verify, cannot))
    b = land(project, second, c2, Checks(verify, cannot))
    assert "fast-forwarded integration" in a.text and not a.replayed
    assert "fast-forwarded integration" in b.text and b.replayed
    assert verified == ["orchestra/task-2"]
    assert shared(project, "integration")[0] == "task-2"
    assert shared(project, "integration")[-1] == "task-1"
    assert b.position == a.position + 1


def test_conflict_is_resolved_verified_and_lands(project: Project) -> None:
    """Both append: the second conflicts in shared.txt, the resolve step is told so, keeps
    both lines, verify passes, it lands."""
    first, c1 = result(project, "task-1", "append")
    second, c2 = result(project, "task-2", "append")
    told: list[list[str]] = []

    def resolve(ws: TaskWorkspace, files: list[str]) -> str | None:
        told.append(files)
        assert "<<<<<<<" in (ws.path / "shared.txt").read_text(encoding="utf-8")
        return keep_both(ws, files)

    land(project, first, c1, Checks(no_markers, cannot))
    landed = land(project, second, c2, Checks(no_markers, resolve))
    assert told == [["shared.txt"]]
    assert "fast-forwarded integration" in landed.text, landed.text
    assert shared(project, "integration")[-2:] == ["task-1", "task-2"]
    assert git(project.root, "rev-parse", "integration") == git(
        project.root, "rev-parse", "orchestra/task-2"
    )


def test_unresolved_conflict_names_the_file_and_keeps_the_result(project: Project) -> None:
    """A failed resolve leaves the verified result (not the merge) on its branch, and the
    reason names the conflicting file, never git's bare message."""
    first, c1 = result(project, "task-1", "append")
    second, c2 = result(project, "task-2", "append")
    land(project, first, c1, Checks(no_markers, cannot))
    left = land(project, second, c2, Checks(no_markers, cannot))
    assert "conflicts in shared.txt" in left.text
    assert "resolve failed for ['shared.txt']" in left.text
    assert "left on its branch" in left.text and "git failed" not in left.text
    assert git(project.root, "rev-parse", "orchestra/task-2") == c2
    assert shared(project, "integration")[-1] == "task-1"


def test_markers_left_by_the_resolve_step_are_refused(project: Project) -> None:
    """A resolve step that says it worked but leaves markers does not land."""
    first, c1 = result(project, "task-1", "append")
    second, c2 = result(project, "task-2", "append")
    land(project, first, c1, Checks(no_markers, cannot))
    left = land(project, second, c2, Checks(lambda ws: None, lambda ws, files: None))
    assert "left conflict markers in shared.txt" in left.text, left.text
    assert git(project.root, "rev-parse", "orchestra/task-2") == c2


def test_a_result_already_on_its_branch_is_replayed(project: Project) -> None:
    """A pool (or retried) result whose branch already holds it: the replayed commit replaces
    exactly that commit on the branch and lands."""
    first, c1 = result(project, "task-1", "append")
    second, c2 = result(project, "task-2", "first")
    git(project.root, "fetch", "-q", str(second.git_dir), "refs/heads/orchestra/task-2")
    git(project.root, "update-ref", "refs/heads/orchestra/task-2", c2)
    land(project, first, c1, Checks(no_markers, cannot))
    landed = land(project, second, c2, Checks(no_markers, cannot))
    assert "fast-forwarded integration" in landed.text, landed.text
    assert git(project.root, "rev-parse", "orchestra/task-2") != c2


def test_checked_out_base_lands_on_its_own_branch(tmp_path: Path, project: Project) -> None:
    """With the base checked out, results land on orchestra-landed/<base>; the base stays."""
    (project.root / "orchestra.yaml").write_text("git:\n  integration: merge\n", encoding="utf-8")
    git(project.root, "commit", "-qam", "no base_branch")
    proj = open_project(project.root)
    head = git(proj.root, "rev-parse", "main")
    first, c1 = result(proj, "task-1", "append", base="main")
    second, c2 = result(proj, "task-2", "first", base="main")
    a = land(proj, first, c1, Checks(no_markers, cannot))
    b = land(proj, second, c2, Checks(no_markers, cannot))
    assert "landed on orchestra-landed/main" in a.text and "landed on" in b.text
    assert b.replayed
    assert git(proj.root, "rev-parse", "main") == head
    assert shared(proj, "orchestra-landed/main")[0] == "task-2"
    assert shared(proj, "orchestra-landed/main")[-1] == "task-1"

"""Between steps the work tree is its committable content, with the CLIs' settings as the
branch has them (orchestra/workspace/carryover.py), and results that touch Orchestra's own
settings are found (orchestra/workspace/protected.py). Real git, real files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestra.agents import workspace_excludes
from orchestra.workspace.carryover import is_cli_config, settle_work_tree
from orchestra.workspace.clone import TaskWorkspace, commit_all, create_workspace
from orchestra.workspace.protected import protected_changes


def _git(repo: Path, *args: str) -> str:
    ident = ["-c", "user.name=u", "-c", "user.email=u@x"]
    proc = subprocess.run(
        ["git", "-C", str(repo), *ident, *args], check=True, capture_output=True, text=True
    )
    return proc.stdout


@pytest.fixture
def ws(tmp_path: Path) -> TaskWorkspace:
    """A task on a repository that commits its own Claude Code settings and a .gitignore."""
    project = tmp_path / "user"
    (project / ".claude").mkdir(parents=True)
    _git(project, "init", "-q", "-b", "main")
    (project / "app.py").write_text("print(1)\n", encoding="utf-8")
    (project / ".claude" / "settings.json").write_text('{"user": true}\n', encoding="utf-8")
    (project / ".gitignore").write_text("build/\n", encoding="utf-8")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "base")
    return create_workspace(
        project, tmp_path / "wt", tmp_path / "gd", "task-01", "main", workspace_excludes()
    )


def test_names_of_cli_settings() -> None:
    for path in (".claude/settings.json", "sub/.opencode/x.js", ".aider.conf.yml", ".env"):
        assert is_cli_config(path), path
    for path in ("app.py", "docs/claude.md", "env.py", ".envrc.example/x", "opencode.md"):
        assert not is_cli_config(path), path


def test_the_users_settings_come_back_the_agents_go(ws: TaskWorkspace) -> None:
    work = ws.path
    (work / "app.py").write_text("print(2)\n", encoding="utf-8")  # the step's real work
    (work / "new.py").write_text("x = 1\n", encoding="utf-8")
    (work / ".claude" / "settings.json").write_text('{"hooks": {}}\n', encoding="utf-8")
    (work / ".claude" / "settings.local.json").write_text("{}\n", encoding="utf-8")
    (work / "opencode.json").write_text("{}\n", encoding="utf-8")
    (work / "a*b").mkdir()
    (work / "a*b" / ".env").write_text("K=v\n", encoding="utf-8")
    (work / "build").mkdir()
    (work / "build" / "out.bin").write_text("ignored\n", encoding="utf-8")
    put_back = settle_work_tree(ws)
    assert sorted(put_back) == [".claude/settings.json", "a*b/.env", "opencode.json"]
    assert (work / "app.py").read_text(encoding="utf-8") == "print(2)\n"
    assert (work / "new.py").is_file()
    assert (work / ".claude" / "settings.json").read_text(encoding="utf-8") == '{"user": true}\n'
    for gone in (".claude/settings.local.json", "opencode.json", "a*b", "build"):
        assert not (work / gone).exists(), gone
    commit = commit_all(ws, message="m", author_name="o", author_email="o@x")
    assert commit is not None
    changed = ws.git("diff-tree", "-r", "--name-only", ws.base_commit, commit).split()
    assert sorted(changed) == ["app.py", "new.py"]


def test_a_deleted_user_setting_is_restored(ws: TaskWorkspace) -> None:
    (ws.path / ".claude" / "settings.json").unlink()
    assert settle_work_tree(ws) == [".claude/settings.json"]
    assert (ws.path / ".claude" / "settings.json").read_text(encoding="utf-8") == (
        '{"user": true}\n'
    )


def _commit(ws: TaskWorkspace, files: dict[str, str]) -> str:
    for rel, text in files.items():
        (ws.path / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws.path / rel).write_text(text, encoding="utf-8")
    commit = commit_all(ws, message="m", author_name="o", author_email="o@x")
    assert commit is not None
    return commit


@pytest.mark.parametrize(
    ("files", "found"),
    [
        ({"orchestra.yaml": "x: 1\n"}, ["'orchestra.yaml'"]),
        ({"sub/orchestra.local.yaml": "x\n"}, ["'sub/orchestra.local.yaml'"]),
        ({"sub/.gitignore": "!.orchestra/\n"}, ["the .gitignore rule '!.orchestra/'"]),
        ({".gitignore": "build/\n!*\n"}, ["the .gitignore rule '!*'"]),
        ({".gitignore": ""}, []),  # the user's own rule removed: not about Orchestra
        ({".gitignore": "build/\n!keep.yaml\n*.log\n"}, []),
        ({"docs/orchestra.md": "about\n"}, []),
    ],
)
def test_protected_changes(ws: TaskWorkspace, files: dict[str, str], found: list[str]) -> None:
    assert protected_changes(ws, _commit(ws, files)) == found


def test_attributes_cannot_hide_a_rule(ws: TaskWorkspace) -> None:
    """`.gitignore binary` in the result would turn a diff into "Binary files differ"."""
    commit = _commit(ws, {".gitattributes": "* binary\n", ".gitignore": "!orchestra.local.yaml\n"})
    assert protected_changes(ws, commit) == ["the .gitignore rule '!orchestra.local.yaml'"]

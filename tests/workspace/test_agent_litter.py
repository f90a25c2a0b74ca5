"""The files agent CLIs leave in the workspace never reach the result branch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestra.agents import ADAPTERS, workspace_excludes
from orchestra.workspace.agentgit import reset_agent_git
from orchestra.workspace.clone import TaskWorkspace, commit_all, create_workspace

#: What each CLI really writes into its working folder (AGENT-CLIS.md, the aider FINDINGS).
LITTER: dict[str, list[str]] = {
    "aider": [
        ".aider.tags.cache.v4/cache.db",
        ".aider.chat.history.md",
        ".aider.input.history",
        "src/.aider.tags.cache.v4/cache.db",
    ],
    "claude": [".claude/settings.local.json", "CLAUDE.local.md"],
    "codex": [".codex/config.toml", ".codex/sessions/2026/rollout.jsonl"],
    "opencode": [".opencode/plans/plan.md", ".opencode/agent/coder.md"],
}


def _repo(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "calc.py").write_text("def add(a, b):\n    return a - b\n", encoding="utf-8")
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(path), "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "i"],
        check=True,
    )
    return path


def _committed(ws: TaskWorkspace) -> list[str]:
    return sorted(ws.git("diff", "--name-only", ws.base_commit, f"refs/heads/{ws.branch}").split())


def _workspace(project: Path, tmp_path: Path) -> TaskWorkspace:
    """A task workspace with the agent's own .git, as a step sees it."""
    ws = create_workspace(
        project, tmp_path / "wt", tmp_path / "gitdir", "task-01", "main", workspace_excludes()
    )
    reset_agent_git(ws, str(ws.objects_dir))
    return ws


def _litter_and_change(ws: TaskWorkspace, kind: str) -> None:
    for rel in LITTER[kind]:
        path = ws.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("agent state\n", encoding="utf-8")
    (ws.path / "calc.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")


def test_every_cli_adapter_names_its_litter() -> None:
    """Each agent CLI adapter (not the generic command) declares the files it leaves behind."""
    for kind, adapter in ADAPTERS.items():
        if kind != "command":
            assert adapter.workspace_litter, kind


@pytest.mark.parametrize("kind", sorted(LITTER))
def test_result_holds_the_change_and_nothing_else(tmp_path: Path, kind: str) -> None:
    """After an agent's step, the task commit holds calc.py only: no state, cache or history."""
    project = _repo(tmp_path / "p")
    ws = _workspace(project, tmp_path)
    _litter_and_change(ws, kind)
    assert commit_all(ws, message="m", author_name="O", author_email="o@x") is not None
    assert _committed(ws) == ["calc.py"]


@pytest.mark.parametrize("attack", ["emptied", "removed", "symlinked", "info-replaced"])
def test_an_agent_cannot_lift_the_excludes(tmp_path: Path, attack: str) -> None:
    """The agent empties, removes or links away its .git/info/exclude: the host commits from its
    own git dir's excludes, and the link's target on the host is left alone."""
    project = _repo(tmp_path / "p")
    ws = _workspace(project, tmp_path)
    info = ws.path / ".git" / "info"
    victim = tmp_path / "host-file"
    victim.write_text("host\n", encoding="utf-8")
    if attack == "emptied":
        (info / "exclude").write_text("", encoding="utf-8")
    elif attack == "removed":
        (info / "exclude").unlink()
    elif attack == "symlinked":
        (info / "exclude").unlink()
        (info / "exclude").symlink_to(victim)
    else:
        for child in info.iterdir():
            child.unlink()
        info.rmdir()
        info.write_text("not a folder\n", encoding="utf-8")
    _litter_and_change(ws, "aider")
    assert commit_all(ws, message="m", author_name="O", author_email="o@x") is not None
    assert _committed(ws) == ["calc.py"]
    assert victim.read_text(encoding="utf-8") == "host\n"


def test_the_users_checkout_is_not_touched(tmp_path: Path) -> None:
    """The excludes go into the task clone's .git only, never the project's."""
    project = _repo(tmp_path / "p")
    before = (project / ".git" / "info" / "exclude").read_text(encoding="utf-8")
    _workspace(project, tmp_path)
    assert (project / ".git" / "info" / "exclude").read_text(encoding="utf-8") == before

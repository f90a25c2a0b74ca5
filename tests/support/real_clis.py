"""What the tests of the real Claude Code and Codex CLIs share: where `make claude codex` puts
them, PATH and HOME for a test, worker profiles pointed at the stand-in APIs, one cycle."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from support.messages_api import MessagesAPI
from support.responses_api import ResponsesAPI

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".venv" / "tools"
CLAUDE_KEY = "sk-ant-test-standin-key"
CODEX_KEY = "sk-test-standin-codex-key"
CLAUDE_MODEL = "claude-sonnet-4-5"
CODEX_MODEL = "gpt-5-codex"
WORKER_IMAGE = "orchestra-worker:latest"


def cli_path(name: str) -> Path:
    """The real CLI `make test` installs (`make claude` / `make codex`); missing fails in CI."""
    path = TOOLS / name / "bin" / name
    if not path.exists():
        reason = f"{name} is not installed at {path}: run `make {name}` (or `make test`)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


def link_clis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH folder holding only the two CLIs (their venvs' own python stays off PATH), and a
    HOME of the test's own."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("claude", "codex"):
        (folder / name).symlink_to(cli_path(name).resolve())
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return folder


def workers(
    agent: str, env: dict[str, str], model: str, runtime: str = "process", timeout: int = 120
) -> dict[str, Any]:
    """Every worker ``agent`` on ``runtime`` (the worker image under Docker), with ``env``."""
    found: dict[str, Any] = {}
    for role in ("planner", "architect", "coder", "reviewer", "fixer"):
        profile: dict[str, Any] = {
            "role": role,
            "agent": agent,
            "model": model,
            "runtime": runtime,
            "timeout": timeout,
            "env": dict(env),
        }
        if runtime == "docker":
            profile["docker"] = {"image": WORKER_IMAGE}
        found[role] = profile
    return found


def claude_env(api: MessagesAPI) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": api.url, "ANTHROPIC_API_KEY": CLAUDE_KEY}


def codex_env(api: ResponsesAPI) -> dict[str, str]:
    """What a user sets for any OpenAI client: the adapter makes codex's provider of it."""
    return {"OPENAI_BASE_URL": api.url, "OPENAI_API_KEY": CODEX_KEY}


def run_cycle(project: Path) -> Any:
    from flows.cycle import infinite_orchestra

    return infinite_orchestra(project=str(project), return_state=True)

"""The real Claude Code reads no project settings in a step (issue 18, item 2).

`claude -p` runs project hooks from `.claude/settings.json` without asking: a step could plant
them for the next step's Claude Code, which would run them with that step's keys and network,
or on the host under the process runtime. Orchestra passes `--setting-sources user` (the
per-run `CLAUDE_CONFIG_DIR` only) and `--strict-mcp-config`. Positive control: the same
invocation without those flags runs the planted hooks. The model API is a closed port on
loopback: hooks at session start fire before any request.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestra.agents import build_invocation

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
OURS = ("--setting-sources", "user", "--strict-mcp-config")


@pytest.fixture(scope="module")
def claude_cli() -> str:
    """The claude executable (`make claude`: .venv/tools/claude); missing → skip (fail in CI)."""
    found = shutil.which("claude", path=str(REPO / ".venv" / "tools" / "claude" / "bin"))
    found = found or shutil.which("claude")
    if found is None:
        reason = "claude is not installed: run `make claude`"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return found


def _plant(work: Path, marker: Path) -> None:
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    hook = [{"hooks": [{"type": "command", "command": f"touch {marker}"}]}]
    settings = {"hooks": {"SessionStart": hook, "UserPromptSubmit": hook}}
    (work / ".claude").mkdir()
    (work / ".claude" / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    (work / ".claude" / "settings.local.json").write_text(json.dumps(settings), encoding="utf-8")
    server = {"mcpServers": {"x": {"command": "sh", "args": ["-c", f"touch {marker}"]}}}
    (work / ".mcp.json").write_text(json.dumps(server), encoding="utf-8")


def _run_claude(claude: str, work: Path, tmp: Path, *, drop: tuple[str, ...]) -> None:
    state = tmp / "state"
    inv = build_invocation(
        "claude",
        model=None,
        prompt_file=str(tmp / "prompt.md"),
        workspace=str(work),
        output_dir=str(tmp),
        state_dir=str(state),
    )
    argv = [claude, *(a for a in inv.argv[1:] if a not in drop)]
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp),
        **inv.env,
        "ANTHROPIC_API_KEY": "sk-test",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",  # nothing listens: fails at once
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }
    Path(env["CLAUDE_CONFIG_DIR"]).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        argv,
        input=b"Review the change.",
        cwd=work,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,  # the API is unreachable: claude fails; only the hooks matter
    )


def test_project_hooks_and_mcp_servers_do_not_run(tmp_path: Path, claude_cli: str) -> None:
    work, marker = tmp_path / "work", tmp_path / "PWNED"
    _plant(work, marker)
    _run_claude(claude_cli, work, tmp_path, drop=())
    assert not marker.exists(), "a planted project hook or MCP server ran"
    # Positive control: without Orchestra's flags the same planted hook runs.
    _run_claude(claude_cli, work, tmp_path, drop=OURS)
    assert marker.exists(), "control: claude -p should run project hooks without the flags"

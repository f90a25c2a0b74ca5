"""The accounts users have, through the real CLIs: Claude Code's subscription token
(CLAUDE_CODE_OAUTH_TOKEN from `claude setup-token`) and Codex's login file (auth.json from
`codex login`).

The token passes through like an API key and is never logged or recorded. The login file is
copied read-only into the step's own CODEX_HOME, used by codex, and gone when the step ends; the
user's file is never mounted or changed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from support.messages_api import MessagesAPI
from support.model_api import Exchange, Turn
from support.real_clis import CLAUDE_MODEL, CODEX_MODEL, link_clis
from support.real_sessions import _line
from support.responses_api import ResponsesAPI

from orchestra.config.models import WorkerProfile
from orchestra.engine.step import run_step
from orchestra.runtime.process import ProcessRuntime
from orchestra.testing import StepFactory

pytestmark = [pytest.mark.slow]

OAUTH_TOKEN = "sk-ant-oat01-standin-subscription-token-0123456789"
LOGIN_KEY = "sk-from-codex-login-0123456789"


@pytest.fixture
def cli_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return link_clis(tmp_path, monkeypatch)


def run(make: StepFactory, profile: WorkerProfile, tmp_path: Path) -> object:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    ctx = dataclasses.replace(make(profile, task="say hi"), model=profile.model, timeout=60)
    return run_step(ctx, ProcessRuntime(kill_grace=1))


def test_claude_subscription_token_passes_through_unrecorded(
    cli_bin: Path,
    implement_step: StepFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`pass_env: [CLAUDE_CODE_OAUTH_TOKEN]`: Claude Code sends the token as its bearer
    credential; it appears in no record, log or output file."""
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", OAUTH_TOKEN)
    with MessagesAPI(lambda e: Turn(text=f"hi, I was sent {e.header('authorization')}")) as api:
        profile = WorkerProfile(
            role="coder",
            agent="claude",
            model=CLAUDE_MODEL,
            runtime="process",
            env={"ANTHROPIC_BASE_URL": api.url},
            pass_env=["CLAUDE_CODE_OAUTH_TOKEN"],
        )
        record = run(implement_step, profile, tmp_path)
    assert record.status == "ok", record.message  # type: ignore[attr-defined]
    sent = [e.header("authorization") for e in api.exchanges if e.path == "/v1/messages"]
    assert sent
    assert all(value == f"Bearer {OAUTH_TOKEN}" for value in sent), sent
    out = tmp_path / "out"
    for path in out.rglob("*"):
        if path.is_file():
            assert OAUTH_TOKEN not in path.read_text(errors="replace"), path
    assert "***" in record.output_tail  # type: ignore[attr-defined]


def test_codex_login_file_is_a_read_only_copy_gone_after_the_step(
    cli_bin: Path, implement_step: StepFactory, tmp_path: Path
) -> None:
    """cli.auth_file: codex (no key in its env) authenticates with the copied login; the copy is
    read-only in the step's CODEX_HOME while it runs and deleted after; the user's file stays."""
    login = tmp_path / "user-codex" / "auth.json"
    login.parent.mkdir()
    login.write_text(json.dumps({"OPENAI_API_KEY": LOGIN_KEY}), encoding="utf-8")
    before = login.read_bytes()
    seen: list[int] = []

    def script(exchange: Exchange) -> Turn:
        copy = Path(_line(exchange.text, "Output folder")) / ".state" / "codex" / "auth.json"
        seen.append(stat.S_IMODE(copy.stat().st_mode) if copy.exists() else -1)
        return Turn(text="hi")

    with ResponsesAPI(script) as api:
        profile = WorkerProfile(
            role="coder",
            agent="codex",
            model=CODEX_MODEL,
            runtime="process",
            env={"OPENAI_BASE_URL": api.url},
            cli={"auth_file": str(login)},
        )
        record = run(implement_step, profile, tmp_path)
    assert record.status == "ok", record.message  # type: ignore[attr-defined]
    assert [e.header("authorization") for e in api.response_exchanges] == [f"Bearer {LOGIN_KEY}"]
    assert seen == [0o400]
    assert not (tmp_path / "out" / ".state").exists()
    assert login.read_bytes() == before
    assert os.access(login, os.W_OK)

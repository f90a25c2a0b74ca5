"""Model API failures through a whole cycle with the real Claude Code and the real Codex CLI:
a rate limit gives the task back without an attempt; a refused key stops the cycle with exit 2
and names the variable (in preflight when the probe is refused, at the step when only the
model's requests are).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from support.messages_api import MessagesAPI
from support.model_api import Fault, ModelAPI, Turn
from support.real_agent import enqueue, make_repo, project_config, summary_of
from support.real_clis import (
    CLAUDE_MODEL,
    CODEX_MODEL,
    claude_env,
    codex_env,
    link_clis,
    run_cycle,
    workers,
)
from support.responses_api import ResponsesAPI

from orchestra.cli import run_cycle as cli

pytestmark = [pytest.mark.slow]

RATE_LIMIT = Fault(
    status=429, message="Rate limit reached. Please try again in 1s.", retry_after="1"
)


@pytest.fixture
def cli_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return link_clis(tmp_path, monkeypatch)


def api_and_workers(agent: str, **kwargs: Any) -> tuple[ModelAPI, Any]:
    if agent == "claude":
        claude = MessagesAPI(**kwargs)
        return claude, lambda: workers("claude", claude_env(claude), CLAUDE_MODEL)
    codex = ResponsesAPI(**kwargs)
    return codex, lambda: workers("codex", codex_env(codex), CODEX_MODEL)


def attempts(task: Path) -> Any:
    front = yaml.safe_load(task.read_text(encoding="utf-8").split("---\n", 2)[1]) or {}
    return front.get("attempts")


@pytest.mark.prefect
@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_rate_limit_gives_the_task_back_without_an_attempt(
    agent: str, tmp_path: Path, cli_bin: Path, prefect_api: str
) -> None:
    """Every model request answered 429 (retry-after 1): the architect step fails as a rate
    limit, the task goes back to the queue with no attempt counted, and the cycle stops."""
    api, make_workers = api_and_workers(agent, script=lambda e: Turn(text="hi"), fault=RATE_LIMIT)
    with api:
        project = make_repo(tmp_path / "calc", project_config(make_workers()))
        enqueue(project)
        state = run_cycle(project)
    data = summary_of(state)
    task = data["tasks"][0]
    assert task["kind"] == "infrastructure", task
    assert "rate limit" in task["reason"], task["reason"]
    back = project / ".orchestra" / "queue" / "task-01.md"
    assert back.exists(), sorted(p.name for p in (project / ".orchestra").rglob("task-01*"))
    assert attempts(back) is None
    assert "infrastructure failure" in data["stop_reason"], data["stop_reason"]
    assert cli._exit_code(data, state.is_completed(), state.message, "") == 1


@pytest.mark.prefect
def test_retry_after_in_the_message_becomes_a_cool_down(
    tmp_path: Path, cli_bin: Path, prefect_api: str
) -> None:
    """A 429 whose message says "try again in 30s" (Claude Code prints the API's message; the
    header it consumes itself): the next cycle claims nothing, says until when, and sends the
    model nothing."""
    wait = Fault(
        status=429, message="Rate limit reached. Please try again in 30s.", retry_after="1"
    )
    api, make_workers = api_and_workers("claude", script=lambda e: Turn(text="hi"), fault=wait)
    with api:
        project = make_repo(tmp_path / "calc", project_config(make_workers()))
        enqueue(project)
        first = run_cycle(project)
        asked = len(api.exchanges)
        second = run_cycle(project)
        after = [e.path for e in api.exchanges[asked:]]
    assert summary_of(first)["tasks"][0]["kind"] == "infrastructure"
    assert "cooling down until" in second.message, second.message
    assert "s left), as the model API asked" in second.message
    assert summary_of(second)["tasks"] == []
    assert "/v1/messages" not in after, after
    assert attempts(project / ".orchestra" / "queue" / "task-01.md") is None


@pytest.mark.prefect
def test_key_refused_by_the_model_stops_the_cycle_with_exit_2(
    tmp_path: Path, cli_bin: Path, prefect_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The probe passes, then every model request is refused (401): the step names
    ANTHROPIC_API_KEY, the task costs no attempt, and the command exits 2."""
    refused = Turn(fault=Fault(status=401, message="invalid x-api-key"))
    api, make_workers = api_and_workers("claude", script=lambda e: refused)
    with api:
        project = make_repo(tmp_path / "calc", project_config(make_workers()))
        enqueue(project)
        state = run_cycle(project)
    data = summary_of(state)
    task = data["tasks"][0]
    assert task["kind"] == "infrastructure"
    assert "refused the credential in ANTHROPIC_API_KEY" in task["reason"], task["reason"]
    assert attempts(project / ".orchestra" / "queue" / "task-01.md") is None
    assert cli._exit_code(data, state.is_completed(), state.message, "") == 2
    assert "needs a working credential" in capsys.readouterr().out


@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_key_refused_in_preflight_exits_2_naming_the_variable(
    agent: str, tmp_path: Path, cli_bin: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The preflight probes the endpoint each CLI will use (Claude Code's ANTHROPIC_BASE_URL,
    Codex's OPENAI_BASE_URL): a refused key stops `python -m flows.run` with exit 2 before any
    task is claimed."""
    api, make_workers = api_and_workers(
        agent, script=lambda e: Turn(text="hi"), fault=Fault(status=401, message="bad key")
    )
    with api:
        project = make_repo(tmp_path / "calc", project_config(make_workers()))
        enqueue(project)
        code = cli.main(["--project", str(project)], lambda: None)
    out = " ".join(capsys.readouterr().out.split())
    assert code == 2
    var = "ANTHROPIC_API_KEY" if agent == "claude" else "OPENAI_API_KEY"
    assert f"the key in {var} was refused" in out, out
    assert [e.path for e in api.exchanges] == ["/v1/models"]
    assert (project / ".orchestra" / "queue" / "task-01.md").exists()

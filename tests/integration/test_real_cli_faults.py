"""Model API faults through the real Claude Code and the real Codex CLI: each one ends the step
fast, for the right reason, and (all but silence) as an infrastructure failure, which costs the
task no attempt.

The stand-in APIs (tests/support/messages_api.py, tests/support/responses_api.py) answer every
request with the fault: 401, 429 with ``retry-after``, 529 overloaded, 500, a connection closed
before the answer, a stream cut mid-answer, and silence.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from support.messages_api import MessagesAPI
from support.model_api import Fault, ModelAPI, Turn
from support.real_clis import link_clis
from support.responses_api import ResponsesAPI

from orchestra.config.models import WorkerProfile
from orchestra.engine.failures import step_failure_class
from orchestra.engine.stall import STALL_SECONDS
from orchestra.engine.step import StepRecord, run_step
from orchestra.runtime.process import ProcessRuntime
from orchestra.testing import StepFactory

pytestmark = [pytest.mark.slow]

KEY = {"claude": "sk-ant-test-standin-fault", "codex": "sk-test-standin-fault"}
MODEL = {"claude": "claude-sonnet-4-5", "codex": "gpt-5-codex"}
KEY_VAR = {"claude": "ANTHROPIC_API_KEY", "codex": "OPENAI_API_KEY"}

#: Each fault, the failure kind the step must report, and a phrase of the CLI's own reason.
FAULTS: dict[str, tuple[Fault, str]] = {
    "401": (Fault(status=401, message="invalid x-api-key"), "auth"),
    "429": (
        Fault(status=429, message="Rate limit reached. Please try again in 1s.", retry_after="1"),
        "rate_limited",
    ),
    "529": (Fault(status=529, message="Overloaded"), "overloaded"),
    "500": (Fault(status=500, message="Internal server error"), "overloaded"),
    "closed": (Fault(kind="close"), "unreachable"),
    "cut": (Fault(kind="cut"), "unreachable"),
}


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both real CLIs on PATH (alone), and a HOME of the test's own."""
    link_clis(tmp_path, monkeypatch)


def profile(agent: str, base_url: str, **extra: Any) -> WorkerProfile:
    base_var = "ANTHROPIC_BASE_URL" if agent == "claude" else "OPENAI_BASE_URL"
    return WorkerProfile(
        role="coder",
        agent=agent,  # type: ignore[arg-type]
        model=MODEL[agent],
        runtime="process",
        env={base_var: base_url, KEY_VAR[agent]: KEY[agent]},
        **extra,
    )


def step(make: StepFactory, prof: WorkerProfile, tmp_path: Path, timeout: float) -> Any:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    ctx = make(prof, task="Fix add in calc.py")
    return dataclasses.replace(ctx, model=prof.model, timeout=timeout)


def api_for(agent: str, fault: Fault | None = None) -> ModelAPI:
    cls = MessagesAPI if agent == "claude" else ResponsesAPI
    return cls(lambda exchange: Turn(text="hi"), fault=fault)


def url(api: ModelAPI) -> str:
    return api.url  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize("agent", ["claude", "codex"])
@pytest.mark.parametrize("name", list(FAULTS))
def test_model_api_fault_is_infrastructure(
    agent: str, name: str, cli_home: None, implement_step: StepFactory, tmp_path: Path
) -> None:
    """The real CLI meets the fault on every request: the step fails within 30 s with the kind
    that names it, as an infrastructure failure (no attempt spent)."""
    fault, kind = FAULTS[name]
    with api_for(agent, fault) as api:
        ctx = step(implement_step, profile(agent, url(api)), tmp_path, timeout=60)
        started = time.monotonic()
        record = run_step(ctx, ProcessRuntime(kill_grace=1))
        took = time.monotonic() - started
    assert api.exchanges, "the CLI never reached the stand-in"
    assert record.status == "failed", record.message
    assert record.failure == kind, record.message
    assert step_failure_class(record) == "infrastructure"
    assert took < 30, f"{agent} took {took:.0f} s to give up on {name}"
    assert KEY[agent] not in record.message + record.output_tail


@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_refused_key_names_the_variable(
    agent: str, cli_home: None, implement_step: StepFactory, tmp_path: Path
) -> None:
    """A 401: the step's message names the variable that holds the refused key, never its
    value."""
    with api_for(agent, FAULTS["401"][0]) as api:
        ctx = step(implement_step, profile(agent, url(api)), tmp_path, timeout=60)
        record = run_step(ctx, ProcessRuntime(kill_grace=1))
    assert record.failure == "auth"
    assert f"refused the credential in {KEY_VAR[agent]}" in record.message, record.message
    assert KEY[agent] not in record.message


@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_silence_ends_at_the_time_limit(
    agent: str, cli_home: None, implement_step: StepFactory, tmp_path: Path
) -> None:
    """An API that accepts and never answers: our time limit stops the CLI (a slow model and a
    dead one look alike from here, so this is the step's timeout)."""
    with api_for(agent, Fault(kind="silent")) as api:
        ctx = step(implement_step, profile(agent, url(api)), tmp_path, timeout=8)
        started = time.monotonic()
        record = run_step(ctx, ProcessRuntime(kill_grace=1))
        took = time.monotonic() - started
    assert api.exchanges
    assert record.status == "timeout", record.message
    assert took < 20


def test_codex_waiting_for_network_is_stopped_within_60_s(
    cli_home: None, implement_step: StepFactory, tmp_path: Path
) -> None:
    """A base URL that never resolves: codex prints "Reconnecting... waiting for network" for
    ever (at any retry setting). The step is stopped after 60 s of that, long before its 300 s
    limit, as an unreachable model API."""
    prof = profile("codex", "http://model-api.invalid/v1")
    ctx = step(implement_step, prof, tmp_path, timeout=300)
    started = time.monotonic()
    record: StepRecord = run_step(ctx, ProcessRuntime(kill_grace=1))
    took = time.monotonic() - started
    assert STALL_SECONDS == 60
    assert record.status == "failed", record.message
    assert record.failure == "unreachable"
    assert "stopped after 60 s of reconnecting" in record.message, record.message
    assert "waiting for network" in record.message
    assert step_failure_class(record) == "infrastructure"
    assert took < 75, took

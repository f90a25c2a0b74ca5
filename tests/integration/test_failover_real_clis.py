"""Failover across agent CLIs and the spending governor with the real Claude Code and Codex CLI
against the stand-in model APIs (which report usage): Claude Code gets 429s, Codex takes over and
the task is archived with Codex's edit; with every fallback down the task goes back without an
attempt and the breaker counts one outage; a per-task cap stops the task at a step boundary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.messages_api import MessagesAPI
from support.model_api import Fault, Turn
from support.real_agent import CALC_DONE, enqueue, make_repo, project_config, summary_of
from support.real_clis import (
    CLAUDE_KEY,
    CLAUDE_MODEL,
    CODEX_KEY,
    CODEX_MODEL,
    claude_env,
    codex_env,
    link_clis,
    run_cycle,
    workers,
)
from support.real_sessions import codex_session
from support.responses_api import ResponsesAPI

from orchestra.engine.ledger import Ledger

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

RATE_LIMIT = Fault(
    status=429, message="Rate limit reached. Please try again in 20s.", retry_after="1"
)
OUTAGE = Fault(status=529, message="Overloaded")
PRICES = {CODEX_MODEL: {"input_usd_per_mtok": 1.25, "output_usd_per_mtok": 10.0}}


@pytest.fixture
def cli_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return link_clis(tmp_path, monkeypatch)


def claude_then_codex(claude: MessagesAPI, codex: ResponsesAPI) -> dict[str, Any]:
    """Every role on Claude Code, each with a Codex profile (another CLI, another provider) as
    its fallback."""
    found = workers("claude", claude_env(claude), CLAUDE_MODEL)
    for role, profile in workers("codex", codex_env(codex), CODEX_MODEL).items():
        found[f"{role}-codex"] = profile
        found[role]["fallback"] = [f"{role}-codex"]
    return found


def git_show(project: Path, what: str) -> str:
    import subprocess

    out = subprocess.run(
        ["git", "show", what], cwd=project, capture_output=True, text=True, check=True
    )
    return out.stdout


def front(task: Path) -> dict[str, Any]:
    return yaml.safe_load(task.read_text(encoding="utf-8").split("---\n", 2)[1]) or {}


def test_claude_code_rate_limited_codex_takes_over_and_the_task_is_archived(
    tmp_path: Path, cli_bin: Path, prefect_api: str
) -> None:
    """Claude Code gets 429s on every request; each step fails over to its Codex profile at
    once (Claude's provider cools down, so later steps go straight to Codex); the task is
    archived with Codex's edit; the outcome says who did the work; the ledger has Codex's steps
    priced from `pricing:`."""
    claude = MessagesAPI(script=lambda e: Turn(text="hi"), fault=RATE_LIMIT, api_key=CLAUDE_KEY)
    with claude, ResponsesAPI(codex_session(), api_key=CODEX_KEY) as codex:
        config = project_config(claude_then_codex(claude, codex)) | {"pricing": PRICES}
        project = make_repo(tmp_path / "calc", config)
        enqueue(project)
        state = run_cycle(project)
        claude_asked = [e.path for e in claude.exchanges if e.path.endswith("/messages")]
    data = summary_of(state)
    task = data["tasks"][0]
    assert task["status"] == "done", task
    assert list((project / ".orchestra" / "done").glob("task-01-*.md")), "not archived"
    assert git_show(project, "orchestra/task-01:calc.py") == CALC_DONE
    assert task["failover"] == ["plan: architect → architect-codex (rate_limited)"], task
    # The first step found the 429; Claude's provider then cooled down for the 20 s the API
    # named: no later step asked it.
    assert claude_asked, "Claude Code never called the stand-in"
    cooled = json.loads((project / ".orchestra" / "providers.json").read_text())
    assert any(k.startswith("claude@127.0.0.1") for k in cooled), cooled
    rows = Ledger(project).rows()
    workers_used = [r.worker for r in rows]
    assert workers_used[0] == "architect" and set(workers_used[1:]) <= {
        "architect-codex",
        "coder-codex",
        "reviewer-codex",
        "fixer-codex",
    }, workers_used
    codex_rows = [r for r in rows if r.cli == "codex"]
    assert codex_rows and all(r.priced == "table" and (r.cost_usd or 0) > 0 for r in codex_rows)
    assert "spent $" in state.message, state.message


def test_every_fallback_down_requeues_without_an_attempt_and_counts_one_outage(
    tmp_path: Path, cli_bin: Path, prefect_api: str
) -> None:
    """Claude Code rate-limited and Codex's API overloaded: the step tries both, the task goes
    back to the queue with no attempt, and the breaker's streak is one."""
    claude = MessagesAPI(script=lambda e: Turn(text="hi"), fault=RATE_LIMIT, api_key=CLAUDE_KEY)
    codex = ResponsesAPI(script=lambda e: Turn(text="hi"), fault=OUTAGE, api_key=CODEX_KEY)
    with claude, codex:
        project = make_repo(tmp_path / "calc", project_config(claude_then_codex(claude, codex)))
        enqueue(project)
        state = run_cycle(project)
    task = summary_of(state)["tasks"][0]
    assert task["kind"] == "infrastructure", task
    back = project / ".orchestra" / "queue" / "task-01.md"
    assert back.exists()
    assert front(back).get("attempts") is None
    streak = json.loads((project / ".orchestra" / "breaker.json").read_text())
    assert streak["count"] == 1, streak
    tried = [r.worker for r in Ledger(project).rows()]
    assert tried == ["architect", "architect-codex"], tried


def test_task_cap_stops_at_a_step_boundary_and_requeues_without_an_attempt(
    tmp_path: Path, cli_bin: Path, prefect_api: str
) -> None:
    """limits.max_cost_per_task_usd below two steps of Codex (priced from the table): the
    plan step runs, the next would cross the cap, so the task goes back to the queue with no
    attempt (operator kind) and the cycle stops naming the cap."""
    with ResponsesAPI(codex_session(), api_key=CODEX_KEY) as codex:
        config = project_config(workers("codex", codex_env(codex), CODEX_MODEL))
        config |= {"pricing": PRICES, "limits": {"max_cost_per_task_usd": 0.001}}
        project = make_repo(tmp_path / "calc", config)
        enqueue(project)
        state = run_cycle(project)
    data = summary_of(state)
    task = data["tasks"][0]
    assert task["kind"] == "operator", task
    assert "spending cap of the task" in task["reason"], task["reason"]
    back = project / ".orchestra" / "queue" / "task-01.md"
    assert front(back).get("attempts") is None
    rows = Ledger(project).rows()
    spent = sum(r.cost_usd or 0 for r in rows)
    assert spent > 0, rows
    assert "spending cap" in data["stop_reason"], data["stop_reason"]


def test_day_cap_warns_stops_and_the_next_cycle_claims_nothing(
    tmp_path: Path, cli_bin: Path, prefect_reader: Any
) -> None:
    """A $0.01 day cap with Codex's steps priced at about $0.005-$0.009: the warning reaches
    the summary line and the usage artifacts, no step starts that would cross the cap, the task
    goes back without an attempt, and the next cycle claims nothing, naming the cap."""
    with ResponsesAPI(codex_session(), api_key=CODEX_KEY) as codex:
        config = project_config(workers("codex", codex_env(codex), CODEX_MODEL))
        config |= {"pricing": PRICES, "limits": {"max_cost_per_day_usd": 0.01}}
        project = make_repo(tmp_path / "calc", config)
        enqueue(project)
        first = run_cycle(project)
        asked = len([e for e in codex.exchanges if e.path.endswith("/responses")])
        second = run_cycle(project)
        asked_after = len([e for e in codex.exchanges if e.path.endswith("/responses")])
    data = summary_of(first)
    assert data["tasks"][0]["kind"] == "operator", data["tasks"]
    assert "warning: today's spending is at $0.01 of $0.01" in first.message, first.message
    spent = sum(r.cost_usd or 0 for r in Ledger(project).rows())
    dearest = max(r.cost_usd or 0 for r in Ledger(project).rows())
    assert spent <= 0.01 + dearest, spent
    assert front(project / ".orchestra" / "queue" / "task-01.md").get("attempts") is None
    later = summary_of(second)
    assert later["tasks"] == [] and "spending cap" in later["stop_reason"], later
    assert asked_after == asked  # the second cycle asked the model nothing (a probe only)
    keys = {a.key: a for a in prefect_reader.artifacts(first.state_details.flow_run_id)}
    today = next(a for k, a in keys.items() if k and k.endswith("usage-today"))
    assert "**Warning:**" in str(today.data), today.data
    assert any(k and k.endswith("usage-cycle") for k in keys), sorted(k for k in keys if k)

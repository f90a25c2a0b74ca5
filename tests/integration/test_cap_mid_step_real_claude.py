"""A spending cap stops the real Claude Code in the middle of a step: its stream-json usage is
read as it runs, and the agent is killed as soon as its next model request would cross the cap.

The stand-in Messages API plays a planning session of three model turns, each reporting 10,000
input tokens ($0.03 at the test's price of $3 per million): after the second answer the step has
used about $0.06 and its next request would take the day past the $0.08 cap, so it is stopped
while the tool the model asked for (a slow test run) still runs, and the third turn is never
requested. The stand-in records every request, so the test sees what the CLI asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.chat_api import docker_bridge_ip
from support.messages_api import MessagesAPI
from support.model_api import Exchange, ToolCall, Turn
from support.real_agent import PLAN, enqueue, make_repo, project_config, summary_of
from support.real_clis import (
    CLAUDE_KEY,
    CLAUDE_MODEL,
    WORKER_IMAGE,
    claude_env,
    link_clis,
    run_cycle,
    workers,
)
from support.real_sessions import role_of

from orchestra.engine.ledger import Ledger

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

PRICES = {CLAUDE_MODEL: {"input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}}
DAY_CAP = 0.08
TURN_TOKENS = 10_000
SAID = "Running the test suite before I plan."
#: Longer than the step needs to be stopped: the kill comes within one poll of the answer.
SLOW_TESTS = "python3 -c 'import time; time.sleep(20)'"


class CappedSession:
    """The architect reads calc.py, then runs a slow test suite, then would plan; every turn
    reports TURN_TOKENS input tokens. Other roles never come (the task stops in its first
    step). Records which turn of the architect each request asked for."""

    def __init__(self) -> None:
        self.architect_turns: list[int] = []

    def __call__(self, exchange: Exchange) -> Turn:
        if role_of(exchange.text) != "architect":
            return Turn(text="I have nothing to do.", input_tokens=40, output_tokens=8)
        self.architect_turns.append(exchange.model_turns)
        ws = next(
            (
                ln.split(": ", 1)[1]
                for ln in exchange.text.splitlines()
                if ln.startswith("Workspace: ")
            ),
            ".",
        )
        turns = [
            Turn(tools=(ToolCall("Read", {"file_path": f"{ws}/calc.py"}),)),
            Turn(
                text=SAID,
                tools=(ToolCall("Bash", {"command": SLOW_TESTS, "description": "Run tests"}),),
            ),
            Turn(text=PLAN),
        ]
        turn = turns[min(exchange.model_turns, len(turns) - 1)]
        return Turn(text=turn.text, tools=turn.tools, input_tokens=TURN_TOKENS, output_tokens=20)


def front(task: Path) -> dict[str, Any]:
    return yaml.safe_load(task.read_text(encoding="utf-8").split("---\n", 2)[1]) or {}


def assert_stopped_mid_step(project: Path, session: CappedSession, state: Any, reader: Any) -> None:
    """The step was killed before the third turn; the task is back with no attempt; the
    ledger has the two turns' usage; the reason is in the summary, report and artifact."""
    assert session.architect_turns[:2] == [0, 1], session.architect_turns
    assert 2 not in session.architect_turns, "the CLI asked for the turn after the cap"
    data = summary_of(state)
    task = data["tasks"][0]
    assert task["kind"] == "operator", task
    assert "spending cap: stopped mid-step" in task["reason"], task["reason"]
    assert "spending cap" in data["stop_reason"], data["stop_reason"]
    back = project / ".orchestra" / "queue" / "task-01.md"
    assert back.exists() and front(back).get("attempts") is None
    rows = Ledger(project).rows()
    assert [r.worker for r in rows] == ["architect"], rows
    row = rows[0]
    assert row.input_tokens >= 2 * TURN_TOKENS, row
    assert row.input_tokens < 3 * TURN_TOKENS, row
    assert row.priced == "table" and 0.06 <= (row.cost_usd or 0) <= DAY_CAP, row
    run_dir = project / ".orchestra" / "runs" / str(state.state_details.flow_run_id) / "task-01"
    record = json.loads(next(run_dir.glob("*-plan/result.json")).read_text())
    assert record["status"] == "stopped", record
    assert record["output_tail"] == SAID, record["output_tail"]
    report = (run_dir / "report.md").read_text()
    assert "stopped mid-step" in report, report
    cycle = state.state_details.flow_run_id
    artifacts = [a for run in reader.flow_runs(parent=cycle) for a in reader.artifacts(run.id)]
    assert any("stopped mid-step" in str(a.data) for a in artifacts), [a.key for a in artifacts]


def capped_config(api: MessagesAPI, runtime: str) -> dict[str, Any]:
    config = project_config(workers("claude", claude_env(api), CLAUDE_MODEL, runtime))
    return config | {"pricing": PRICES, "limits": {"max_cost_per_day_usd": DAY_CAP}}


def test_day_cap_stops_claude_code_mid_step_process_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_reader: Any
) -> None:
    """Claude Code as a process: stopped between its second and third model request."""
    link_clis(tmp_path, monkeypatch)
    session = CappedSession()
    with MessagesAPI(session, api_key=CLAUDE_KEY) as api:
        project = make_repo(tmp_path / "calc", capped_config(api, "process"))
        enqueue(project)
        state = run_cycle(project)
    assert_stopped_mid_step(project, session, state, prefect_reader)


@pytest.mark.docker
def test_day_cap_stops_claude_code_mid_step_in_the_worker_image(
    tmp_path: Path, docker_client: Any, prefect_reader: Any
) -> None:
    """Claude Code in the worker image: its container is stopped the same way."""
    from docker.errors import ImageNotFound

    ip = docker_bridge_ip()
    try:
        docker_client.images.get(WORKER_IMAGE)
    except ImageNotFound:
        ip = None
    if ip is None:
        pytest.fail(f"needs the docker0 bridge and {WORKER_IMAGE!r} (`make worker-image`)")
    session = CappedSession()
    with MessagesAPI(session, hosts=("127.0.0.1", ip), api_key=CLAUDE_KEY) as api:
        project = make_repo(tmp_path / "calc", capped_config(api, "docker"))
        enqueue(project)
        state = run_cycle(project)
    assert_stopped_mid_step(project, session, state, prefect_reader)

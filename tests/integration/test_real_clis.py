"""The real Claude Code and the real Codex CLI end to end, each as architect, coder, reviewer and
fixer, through a whole cycle on the calc repository (its own test suite is the verify gate).

Both CLIs come from PyPI as users get them without npm (``make claude codex`` installs them into
``.venv/tools``); each talks to our stand-in model API on loopback (tests/support/messages_api.py,
tests/support/responses_api.py), which plays a scripted session: the CLI edits files with its own
tools (Claude Code's Read/Edit/Write/Bash, Codex's shell tool) and runs the tests itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.chat_api import docker_bridge_ip
from support.messages_api import MessagesAPI
from support.model_api import ModelAPI
from support.real_agent import CALC_DONE, enqueue, make_repo, project_config
from support.real_clis import (
    CLAUDE_KEY,
    CLAUDE_MODEL,
    CODEX_KEY,
    CODEX_MODEL,
    WORKER_IMAGE,
    claude_env,
    codex_env,
    link_clis,
    run_cycle,
    workers,
)
from support.real_sessions import CODER_FINAL, Session, claude_session, codex_session
from support.responses_api import ResponsesAPI

pytestmark = [pytest.mark.slow]


@pytest.fixture
def cli_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH folder holding only the two CLIs, and a HOME of the test's own."""
    return link_clis(tmp_path, monkeypatch)


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def assert_cycle(project: Path, session: Session, state: Any, reader: Any) -> list[dict[str, Any]]:
    """The task archived; the branch holds the change only; the records carry tokens and the
    CLI's final answer. Returns the agent steps' records."""
    assert state.is_completed(), state.message
    assert state.message.startswith("planned 0, ran 1, archived 1"), state.message
    assert session.roles == ["architect", "coder", "reviewer", "fixer", "reviewer"]
    branch = "orchestra/task-01"
    assert git(project, "diff", "--name-only", f"main..{branch}").split() == ["calc.py"]
    assert git(project, "show", f"{branch}:calc.py") + "\n" == CALC_DONE
    tree = git(project, "ls-tree", "-r", "--name-only", branch).split()
    assert not [p for p in tree if p.split("/")[0] in {".claude", ".codex", "CLAUDE.local.md"}]
    run_dir = project / ".orchestra" / "runs" / str(state.state_details.flow_run_id) / "task-01"
    assert not list(run_dir.glob("*/.state")), "the CLI's per-run state outlived its step"
    records = [json.loads(p.read_text()) for p in sorted(run_dir.glob("*/result.json"))]
    agent_steps = [r for r in records if r["step"] != "verify"]
    assert len(agent_steps) == 5
    for rec in agent_steps:
        assert rec["input_tokens"] > 0, rec
        assert rec["output_tokens"] > 0, rec
        assert not rec["output_tail"].lstrip().startswith("{"), rec["output_tail"]
    coder = next(r for r in agent_steps if r["step"] == "implement")
    assert coder["output_tail"] == CODER_FINAL
    assert coder["handoff"]["summary"].startswith("Fixed add in calc.py")
    outcome = json.loads((run_dir / "outcome.json").read_text())
    assert outcome["tokens"] != "0/0"
    artifacts = reader.artifacts(state.state_details.flow_run_id)
    tables = [a for a in artifacts if a.type == "table"]
    row = tables[-1].data if isinstance(tables[-1].data, list) else json.loads(tables[-1].data)
    assert row[0]["tokens"] == outcome["tokens"]
    return agent_steps


def tool_names(api: ModelAPI) -> set[str]:
    """The tools the model asked for, as the CLIs sent their results back."""
    names: set[str] = set()
    for exchange in api.exchanges:
        turn = exchange.turn
        names.update(call.name for call in (turn.tools if turn else ()))
    return names


@pytest.mark.prefect
def test_claude_code_cycle_process_runtime(
    tmp_path: Path, cli_bin: Path, prefect_reader: Any
) -> None:
    """The real Claude Code plans, edits with Edit, runs the tests with Bash, writes its handoff
    with Write, reviews and fixes; the cost it reports is in every record."""
    session = claude_session()
    with MessagesAPI(session, api_key=CLAUDE_KEY) as api:
        config = project_config(workers("claude", claude_env(api), CLAUDE_MODEL))
        project = make_repo(tmp_path / "calc", config)
        enqueue(project)
        state = run_cycle(project)
    steps = assert_cycle(project, session, state, prefect_reader)
    assert {"Read", "Edit", "Bash", "Write"} <= tool_names(api)
    assert all(r["cost_usd"] > 0 for r in steps), steps
    outcome = json.loads(next(project.glob(".orchestra/runs/*/task-01/outcome.json")).read_text())
    assert outcome["cost_usd"] > 0


@pytest.mark.prefect
def test_codex_cycle_process_runtime(tmp_path: Path, cli_bin: Path, prefect_reader: Any) -> None:
    """The real Codex CLI, pointed at the stand-in by OPENAI_BASE_URL alone, edits and tests
    through its shell tool; tokens come from its turn.completed events (codex prints no cost)."""
    session = codex_session()
    with ResponsesAPI(session, api_key=CODEX_KEY) as api:
        config = project_config(workers("codex", codex_env(api), CODEX_MODEL))
        project = make_repo(tmp_path / "calc", config)
        enqueue(project)
        state = run_cycle(project)
    steps = assert_cycle(project, session, state, prefect_reader)
    assert tool_names(api) == {"exec_command"}
    assert all(r["cost_usd"] is None for r in steps), steps


@pytest.fixture
def bridge_hosts(docker_client: Any) -> tuple[str, ...]:
    """Loopback and the Docker bridge gateway: the profile names 127.0.0.1, the container
    reaches the same port as host.docker.internal (the sandbox's loopback rewrite)."""
    from docker.errors import ImageNotFound

    ip = docker_bridge_ip()
    try:
        docker_client.images.get(WORKER_IMAGE)
    except ImageNotFound:
        ip = None
    if ip is None:
        pytest.fail(f"needs the docker0 bridge and {WORKER_IMAGE!r} (`make worker-image`)")
    return ("127.0.0.1", ip)


@pytest.mark.prefect
@pytest.mark.docker
def test_claude_code_cycle_in_the_worker_image(
    tmp_path: Path, bridge_hosts: tuple[str, ...], prefect_reader: Any
) -> None:
    """The same cycle with Claude Code from the worker image, one container per step."""
    session = claude_session()
    with MessagesAPI(session, hosts=bridge_hosts, api_key=CLAUDE_KEY) as api:
        config = project_config(workers("claude", claude_env(api), CLAUDE_MODEL, "docker"))
        project = make_repo(tmp_path / "calc", config)
        enqueue(project)
        state = run_cycle(project)
    steps = assert_cycle(project, session, state, prefect_reader)
    assert {"Read", "Edit", "Bash", "Write"} <= tool_names(api)
    assert all(r["cost_usd"] > 0 for r in steps), steps
    assert any(e.header("host").startswith("host.docker.internal") for e in api.exchanges)


@pytest.mark.prefect
@pytest.mark.docker
def test_codex_cycle_in_the_worker_image(
    tmp_path: Path, bridge_hosts: tuple[str, ...], prefect_reader: Any
) -> None:
    """The same cycle with Codex from the worker image: the provider the adapter writes into
    CODEX_HOME/config.toml names the host as the container reaches it."""
    session = codex_session()
    with ResponsesAPI(session, hosts=bridge_hosts, api_key=CODEX_KEY) as api:
        config = project_config(workers("codex", codex_env(api), CODEX_MODEL, "docker"))
        project = make_repo(tmp_path / "calc", config)
        enqueue(project)
        state = run_cycle(project)
    assert_cycle(project, session, state, prefect_reader)
    assert tool_names(api) == {"exec_command"}
    assert any(e.header("host").startswith("host.docker.internal") for e in api.exchanges)


@pytest.mark.docker
def test_doctor_shows_each_cli_version_on_the_host_and_in_the_image(
    tmp_path: Path, cli_bin: Path, bridge_hosts: tuple[str, ...]
) -> None:
    """`orchestra doctor` names the version of each CLI the workers run, where they run it."""

    config = project_config(
        {
            **workers("claude", {}, CLAUDE_MODEL),
            "coder": workers("codex", {}, CODEX_MODEL, "docker")["coder"],
            "reviewer": workers("claude", {}, CLAUDE_MODEL, "docker")["reviewer"],
        }
    )
    project = make_repo(tmp_path / "calc", config)
    out = subprocess.run(
        [sys.executable, "-m", "orchestra.cli.app", "doctor", "--project", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "400"},
    )
    flat = " ".join(out.stdout.split())
    assert "claude (process) │ ok │ 2.1.327 (Claude Code)" in flat, out.stdout
    assert f"codex (docker image {WORKER_IMAGE}) │ ok │ codex-cli 0.163.0" in flat, out.stdout
    assert f"claude (docker image {WORKER_IMAGE}) │ ok │ 2.1.327 (Claude Code)" in flat, out.stdout

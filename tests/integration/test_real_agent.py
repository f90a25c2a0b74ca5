"""A real agent CLI end to end: aider (from PyPI) as architect, coder, reviewer and fixer.

aider runs against the stand-in model API (tests/support/chat_api.py), on a small real repository
with history whose own test suite is the verify gate, once natively (aider from the tools venv
``make test`` installs) and once in the worker image (``make worker-image``), where it reaches the
stand-in on the host through the sandbox's loopback rewrite.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.chat_api import ChatAPI, Reply, docker_bridge_ip
from support.real_agent import (
    API_KEY,
    CALC_DONE,
    AiderScript,
    aider_workers,
    enqueue,
    make_repo,
    project_config,
)

from orchestra.config.models import WorkerProfile
from orchestra.engine.step import run_step
from orchestra.runtime.process import ProcessRuntime
from orchestra.testing import StepFactory

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
WORKER_IMAGE = "orchestra-worker:latest"


def strict() -> bool:
    return bool(os.environ.get("CI"))


def missing(reason: str) -> None:
    if strict():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def aider_bin() -> Path:
    """The folder holding the real aider (`make aider` installs it into .venv/tools/aider)."""
    found = os.environ.get("ORCHESTRA_TEST_AIDER") or shutil.which("aider")
    path = Path(found) if found else REPO / ".venv" / "tools" / "aider" / "bin" / "aider"
    if not path.exists():
        missing(f"aider is not installed at {path}: run `make aider` (or `make test`)")
    return path.parent


@pytest.fixture
def aider_env(aider_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """aider on PATH, and a HOME of its own (it writes ~/.aider)."""
    monkeypatch.setenv("PATH", f"{aider_bin}{os.pathsep}{os.environ['PATH']}")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def checkout_state(repo: Path) -> dict[str, str]:
    """What the user sees: HEAD, branch, status and every tracked file's content."""
    files = git(repo, "ls-files").split()
    state = {
        "HEAD": git(repo, "rev-parse", "HEAD"),
        "branch": git(repo, "branch", "--show-current"),
        "status": git(repo, "status", "--porcelain", "--", ".", ":!.orchestra"),
    }
    state.update({f: (repo / f).read_text(encoding="utf-8") for f in files})
    return state


def run_cycle(project: Path) -> Any:
    from flows.cycle import infinite_orchestra

    return infinite_orchestra(project=str(project), return_state=True)


def assert_real_cycle(
    project: Path, api: ChatAPI, script: AiderScript, state: Any, reader: Any
) -> None:
    """The cycle archived the task; the branch holds the change only; the records carry usage."""
    assert state.is_completed(), state.message
    assert state.message.startswith("planned 0, ran 1, archived 1"), state.message
    assert script.roles == ["architect", "coder", "reviewer", "fixer", "reviewer"]
    assert all(r.headers.get("Authorization") == f"Bearer {API_KEY}" for r in api.chat_requests)
    # The result branch: exactly the change, no agent state, cache or history.
    branch = "orchestra/task-01"
    assert git(project, "diff", "--name-only", f"main..{branch}").split() == ["calc.py"]
    assert git(project, "show", f"{branch}:calc.py") + "\n" == CALC_DONE
    tree = git(project, "ls-tree", "-r", "--name-only", branch).split()
    assert not [
        p for p in tree if ".aider" in p or p.split("/")[0] in {".claude", ".codex", ".opencode"}
    ]
    assert [p.name for p in (project / ".orchestra" / "done").glob("task-01-*.md")]
    # Tokens and cost: each agent step's record, the task outcome, the artifacts.
    run_dir = project / ".orchestra" / "runs" / str(state.state_details.flow_run_id) / "task-01"
    records = [json.loads(p.read_text()) for p in sorted(run_dir.glob("*/result.json"))]
    agent_steps = [r for r in records if r["step"] != "verify"]
    assert len(agent_steps) == 5
    for rec in agent_steps:
        assert rec["input_tokens"] > 0, rec
        assert rec["output_tokens"] > 0, rec
        assert rec["cost_usd"] > 0, rec
    outcome = json.loads((run_dir / "outcome.json").read_text())
    assert outcome["cost_usd"] > 0
    assert outcome["tokens"].count("/") == 1
    assert outcome["tokens"] != "0/0"
    artifacts = reader.artifacts(state.state_details.flow_run_id)
    tables = [a for a in artifacts if a.type == "table"]
    assert tables, [a.key for a in artifacts]
    row = tables[-1].data if isinstance(tables[-1].data, list) else json.loads(tables[-1].data)
    assert row[0]["tokens"] == outcome["tokens"]
    assert float(row[0]["cost_usd"]) == pytest.approx(outcome["cost_usd"])
    subflow_ids = [r.id for r in reader.flow_runs(parent=state.state_details.flow_run_id)]
    reports = [a for fid in subflow_ids for a in reader.artifacts(fid) if a.type == "markdown"]
    assert any("tokens in/out" in a.data and "$" in a.data for a in reports)


@pytest.mark.prefect
def test_aider_cycle_process_runtime(tmp_path: Path, aider_env: None, prefect_reader: Any) -> None:
    """aider from the venv takes a task through plan, implement, review, fix, review, verify."""
    script = AiderScript()
    with ChatAPI(script) as api:
        project = make_repo(
            tmp_path / "calc", project_config(aider_workers("process", base_url=api.url))
        )
        enqueue(project)
        before = checkout_state(project)
        state = run_cycle(project)
        assert_real_cycle(project, api, script, state, prefect_reader)
    assert checkout_state(project) == before


@pytest.fixture
def bridge_api() -> Iterator[tuple[ChatAPI, AiderScript]]:
    """The stand-in on loopback and the Docker bridge gateway, one port."""
    ip = docker_bridge_ip()
    if ip is None:
        missing("no docker0 bridge: Docker is needed for this test")
    script = AiderScript()
    with ChatAPI(script, hosts=("127.0.0.1", ip)) as api:
        yield api, script


@pytest.fixture
def worker_image(docker_client: Any) -> str:
    from docker.errors import ImageNotFound

    try:
        docker_client.images.get(WORKER_IMAGE)
    except ImageNotFound:
        missing(f"the worker image {WORKER_IMAGE!r} is missing: run `make worker-image`")
    return WORKER_IMAGE


@pytest.mark.prefect
@pytest.mark.docker
def test_aider_cycle_docker_runtime(
    tmp_path: Path,
    worker_image: str,
    bridge_api: tuple[ChatAPI, AiderScript],
    prefect_reader: Any,
) -> None:
    """The same cycle in the worker image, on the default network (egress): the profile names
    127.0.0.1; the step, whose only way out is the egress proxy, reaches the host's stand-in as
    host.docker.internal through it (allowed as its model API, nothing else is)."""
    api, script = bridge_api
    workers = aider_workers("docker", base_url=api.url, image=worker_image)
    project = make_repo(tmp_path / "calc", project_config(workers))
    enqueue(project)
    before = checkout_state(project)
    state = run_cycle(project)
    assert_real_cycle(project, api, script, state, prefect_reader)
    assert checkout_state(project) == before


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def aider_profile(base_url: str, timeout: int = 60) -> WorkerProfile:
    return WorkerProfile(
        role="coder",
        agent="aider",
        model="openai/gpt-4o",
        runtime="process",
        timeout=timeout,
        env={"OPENAI_API_BASE": base_url, "OPENAI_API_KEY": API_KEY},
    )


def aider_step(make: StepFactory, profile: WorkerProfile, tmp_path: Path, timeout: float) -> Any:
    """An implement step of ``profile`` in a git repository, with aider's model and a limit."""
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    git(ws, "init", "-q")
    ctx = make(profile, task="Fix add in calc.py")
    return dataclasses.replace(ctx, model=profile.model, timeout=timeout)


class TestAiderFailures:
    """aider exits 0 when the key is refused or the API is gone: the step still fails, saying why."""

    def test_refused_key_fails_the_step(
        self, aider_env: None, implement_step: StepFactory, tmp_path: Path
    ) -> None:
        """A 401 from the API: status failed, reason 'authentication failed' with the API's text."""
        with ChatAPI(fault=Reply.unauthorized()) as api:
            ctx = aider_step(implement_step, aider_profile(api.url), tmp_path, timeout=60)
            record = run_step(ctx, ProcessRuntime(kill_grace=1))
        assert record.status == "failed"
        assert record.message.startswith(
            "aider: authentication failed (litellm.AuthenticationError"
        )
        assert "Incorrect API key provided" in record.message

    def test_unreachable_api_fails_the_step(
        self, aider_env: None, implement_step: StepFactory, tmp_path: Path
    ) -> None:
        """Nothing listens at the API's address: aider retries for over a minute, so our time
        limit stops it, and the reason names the unreachable API."""
        profile = aider_profile(f"http://127.0.0.1:{free_port()}/v1")
        ctx = aider_step(implement_step, profile, tmp_path, timeout=20)
        record = run_step(ctx, ProcessRuntime(kill_grace=1))
        assert record.status == "timeout"
        assert "model API unreachable" in record.message, record.message
        assert "Connection error" in record.message

"""docs/quickstart-real.md, run as written: every ``bash`` block of the page, in order, in one shell.

The first block only says where the repository and the model API are: the test checks that it
sets exactly those variables and gives its own values (a real repository with history and tests,
the stand-in model API on the host, the worker's uid). Every other block runs verbatim from the
page, so the page and the test cannot drift. Where no registry is reachable, the page's last
block (building from the local Debian base, the server from our image) is what the test's
environment holds; the Compose project name and the server port are the test's own.

Checked: the script ends with success, the queued task is archived and its branch holds the
change, the schedule was switched on and then paused by ``orchestra stop``; the stack is taken
down with its volumes even when the test fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.chat_api import ChatAPI, docker_bridge_ip
from support.compose_stack import (
    GIT_SAFE,
    REPO,
    WORKER_IMAGE,
    compose_tool,
    free_port,
    hand_to_stack,
    stack_down,
    stack_env,
)
from support.messages_api import MessagesAPI
from support.real_agent import API_KEY, AiderScript, enqueue, make_repo
from support.real_clis import CLAUDE_KEY, CODEX_KEY, claude_env, codex_env
from support.real_sessions import claude_session, codex_session
from support.responses_api import ResponsesAPI

pytestmark = [pytest.mark.slow, pytest.mark.docker]

DOC = REPO / "docs" / "quickstart-real.md"
#: What the page's first block must set, and nothing else.
SETTINGS = {
    "ORCHESTRA_PROJECT",
    "OPENAI_API_BASE",
    "OPENAI_API_KEY",
    "ORCHESTRA_UID",
    "ORCHESTRA_GID",
    "ORCHESTRA_MEMORY__BACKEND",
}
#: The "Without a registry" block: the test's environment holds the same (support.compose_stack).
OFFLINE_BLOCK = "make images"


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def exported(block: str) -> set[str]:
    return set(re.findall(r"(?:export\s+|\s)([A-Z][A-Z0-9_]*)=", " " + block))


def missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ "Your repository": history (committed two hours ago), tests, one task queued, no
    orchestra.yaml (the page's `orchestra init` writes it)."""
    monkeypatch.setenv("GIT_AUTHOR_DATE", "@" + str(int(time.time()) - 7200))
    monkeypatch.setenv("GIT_COMMITTER_DATE", os.environ["GIT_AUTHOR_DATE"])
    project = make_repo(tmp_path / "myrepo", {})
    subprocess.run(["git", "rm", "-q", "orchestra.yaml"], cwd=project, check=True)
    subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qm", "-"],
        cwd=project,
        check=True,
    )
    enqueue(project)
    hand_to_stack(project)
    return project


@pytest.fixture
def standin() -> Iterator[tuple[ChatAPI, AiderScript]]:
    ip = docker_bridge_ip()
    if ip is None:
        missing("no docker0 bridge: Docker is needed for this test")
    script = AiderScript()
    with ChatAPI(script, hosts=("127.0.0.1", ip), api_key=API_KEY) as api:
        yield api, script


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_SAFE}
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_page_blocks() -> None:
    """The page opens with the settings block and ends with the offline one."""
    blocks = bash_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 5, blocks
    assert exported(blocks[0]) == SETTINGS
    assert blocks[-1].startswith(OFFLINE_BLOCK)
    assert exported(blocks[-1]) == {"ORCHESTRA_BASE_IMAGE", "PREFECT_SERVER_IMAGE"}


def run_page(
    repo: Path, settings_for: Any, blocks: list[str], docker_client: Any
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``blocks`` (the first one only checked: it must export exactly the keys of
    ``settings_for(env)``, whose values the test gives) in one bash, against a stack of the
    test's own; the stack is taken down whatever happens."""
    if compose_tool() is None:
        missing("neither `docker compose` nor `docker-compose` is installed")
    docker_client.images.get(WORKER_IMAGE)  # `make worker-image` below is then a no-op
    name = f"orch9c-quick-{uuid.uuid4().hex[:8]}"
    env = {**stack_env(name, free_port()), **GIT_SAFE}
    if os.getuid() == 0:
        # The repository belongs to the worker's uid; Orchestra's host git drops GIT_* variables
        # but reads the global config: a HOME whose git trusts it, as the owner's would.
        home = repo.parent / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[safe]\n\tdirectory = *\n", encoding="utf-8")
        env["HOME"] = str(home)
    settings = settings_for(env)
    assert set(settings) == exported(blocks[0])
    env.update(settings)
    script_text = "set -euo pipefail\n" + "\n".join(blocks[1:])
    try:
        done = subprocess.run(
            ["bash", "-c", script_text],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=1500,
            check=False,
        )
        output = done.stdout[-8000:] + done.stderr[-8000:]
        assert done.returncode == 0, output
    finally:
        stack_down(name, env, docker_client)
    return done, output


def assert_first_cycle(repo: Path, done: subprocess.CompletedProcess[str], output: str) -> None:
    """The queued task archived, its branch holds the fix; the schedule on, then paused."""
    assert list((repo / ".orchestra" / "done").glob("task-01-*.md")), output
    assert git(repo, "diff", "--name-only", "main..orchestra/task-01") == "calc.py"
    assert "return a + b" in git(repo, "show", "orchestra/task-01:calc.py")
    assert "Resumed" in done.stdout or "resumed" in done.stdout, output
    assert "paused" in done.stdout.lower(), output
    assert (repo / ".orchestra" / "STOP").exists()


@pytest.mark.timeout(1800)
def test_quickstart_real_runs_as_written(
    repo: Path, standin: tuple[ChatAPI, AiderScript], docker_client: Any
) -> None:
    api, script = standin
    blocks = bash_blocks(DOC.read_text(encoding="utf-8"))

    def settings_for(env: dict[str, str]) -> dict[str, str]:
        return {
            "ORCHESTRA_PROJECT": str(repo),
            "OPENAI_API_BASE": api.url,  # 127.0.0.1: steps reach it through the bridge
            "OPENAI_API_KEY": API_KEY,
            "ORCHESTRA_UID": env["ORCHESTRA_UID"],
            "ORCHESTRA_GID": env["ORCHESTRA_GID"],
            "ORCHESTRA_MEMORY__BACKEND": "sqlite",
        }

    done, output = run_page(repo, settings_for, blocks[:-1], docker_client)
    assert_first_cycle(repo, done, output)
    assert script.roles[:2] == ["architect", "coder"]
    # The preflight probed the API the way the steps reach it, with the key.
    probes = [r for r in api.requests if r.method == "GET" and r.path.endswith("/models")]
    assert probes, [r.path for r in api.requests]
    assert all(r.headers.get("Authorization") == f"Bearer {API_KEY}" for r in probes)


def variant_blocks(text: str, variant: str) -> list[str]:
    """The page's blocks for ``variant``: its own steps 1 and 2 (```` ```bash <variant> ````),
    then the common steps 3 and 4."""
    own = re.findall(rf"^```bash {variant}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    assert len(own) == 2, own
    return [*own, *bash_blocks(text)[2:-1]]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("variant", ["claude", "codex"])
def test_quickstart_variant_runs_as_written(variant: str, repo: Path, docker_client: Any) -> None:
    """The Claude Code and the Codex variants of the page, as written, each against its own
    stand-in API (Messages, Responses) on the host: the first cycle archives the task."""
    ip = docker_bridge_ip()
    if ip is None:
        missing("no docker0 bridge: Docker is needed for this test")
    blocks = variant_blocks(DOC.read_text(encoding="utf-8"), variant)
    hosts = ("127.0.0.1", ip)
    session = claude_session() if variant == "claude" else codex_session()
    api: Any = (
        MessagesAPI(session, hosts=hosts, api_key=CLAUDE_KEY)
        if variant == "claude"
        else ResponsesAPI(session, hosts=hosts, api_key=CODEX_KEY)
    )
    with api:

        def settings_for(env: dict[str, str]) -> dict[str, str]:
            own = claude_env(api) if variant == "claude" else codex_env(api)
            return {
                "ORCHESTRA_PROJECT": str(repo),
                **own,
                "ORCHESTRA_UID": env["ORCHESTRA_UID"],
                "ORCHESTRA_GID": env["ORCHESTRA_GID"],
                "ORCHESTRA_MEMORY__BACKEND": "sqlite",
            }

        done, output = run_page(repo, settings_for, blocks, docker_client)
    assert_first_cycle(repo, done, output)
    assert session.roles[:2] == ["architect", "coder"]
    probes = [e for e in api.exchanges if e.method == "GET" and e.path.endswith("/models")]
    assert probes, [e.path for e in api.exchanges]

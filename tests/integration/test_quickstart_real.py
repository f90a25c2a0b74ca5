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
from support.real_agent import API_KEY, AiderScript, enqueue, make_repo

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


@pytest.mark.timeout(1800)
def test_quickstart_real_runs_as_written(
    repo: Path, standin: tuple[ChatAPI, AiderScript], docker_client: Any
) -> None:
    api, script = standin
    if compose_tool() is None:
        missing("neither `docker compose` nor `docker-compose` is installed")
    docker_client.images.get(WORKER_IMAGE)  # `make worker-image` below is then a no-op
    blocks = bash_blocks(DOC.read_text(encoding="utf-8"))
    name = f"orch9c-quick-{uuid.uuid4().hex[:8]}"
    env = {**stack_env(name, free_port()), **GIT_SAFE}
    if os.getuid() == 0:
        # The repository belongs to the worker's uid; Orchestra's host git drops GIT_* variables
        # but reads the global config: a HOME whose git trusts it, as the owner's would.
        home = repo.parent / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[safe]\n\tdirectory = *\n", encoding="utf-8")
        env["HOME"] = str(home)
    settings = {
        "ORCHESTRA_PROJECT": str(repo),
        "OPENAI_API_BASE": api.url,  # 127.0.0.1: steps reach it through the bridge
        "OPENAI_API_KEY": API_KEY,
        "ORCHESTRA_UID": env["ORCHESTRA_UID"],
        "ORCHESTRA_GID": env["ORCHESTRA_GID"],
        "ORCHESTRA_MEMORY__BACKEND": "sqlite",
    }
    assert set(settings) == exported(blocks[0])
    env.update(settings)
    script_text = "set -euo pipefail\n" + "\n".join(blocks[1:-1])
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
    # The first cycle: the queued task archived, its branch holds the fix.
    assert list((repo / ".orchestra" / "done").glob("task-01-*.md")), output
    assert git(repo, "diff", "--name-only", "main..orchestra/task-01") == "calc.py"
    assert "return a + b" in git(repo, "show", "orchestra/task-01:calc.py")
    assert script.roles[:2] == ["architect", "coder"]
    # The preflight probed the API the way the steps reach it, with the key.
    probes = [r for r in api.requests if r.method == "GET" and r.path.endswith("/models")]
    assert probes, [r.path for r in api.requests]
    assert all(r.headers.get("Authorization") == f"Bearer {API_KEY}" for r in probes)
    # The schedule was switched on, then `orchestra stop` paused it.
    assert "Resumed" in done.stdout or "resumed" in done.stdout, output
    assert "paused" in done.stdout.lower(), output
    assert (repo / ".orchestra" / "STOP").exists()

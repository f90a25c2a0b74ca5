"""The Compose stack (docker/compose.yaml, profile ``core``) runs scheduled cycles with real aider.

``make stack-up STACK_PROFILES=core`` brings up the Prefect server (built from our orchestrator
image: ``prefecthq/prefect`` cannot be pulled here, the image has the same Prefect 3.8.8) and
``orchestra-worker``, on a test project of its own (a real repository with history and tests),
under a Compose project name of its own. Then, from the host, as docs/docker.md says:
``python -m deployments.pools``, ``prefect deploy --all --prefect-file docker/prefect.yaml``, the
schedule resumed, and two deployment runs. The worker runs each cycle; each step is a sibling
container of the worker image (``orchestra-worker:latest``), started by the worker through the
host's engine with the host path map, running aider against the stand-in model API on the host.

Checked: both tasks archived, both result branches hold the change, `orchestra stop` pauses the
schedule, and after ``make stack-down PURGE=1`` no container, network or volume of the stack is
left (the stack is taken down even when the test fails).

Only the ``core`` profile runs. The ``memory`` (Neo4j) and ``logs`` (Loki, Alloy, Grafana)
profiles need images from a registry, which this machine cannot reach:
``test_registry_profiles`` skips with that reason when those images are absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support.chat_api import ChatAPI, docker_bridge_ip
from support.compose_stack import (
    BASE_IMAGE,
    GIT_SAFE,
    REPO,
    WORKER_IMAGE,
    compose_tool,
    free_port,
    hand_to_stack,
    leftovers,
    stack_down,
    stack_env,
)
from support.real_agent import TASK, AiderScript, aider_workers, enqueue, make_repo

pytestmark = [pytest.mark.slow, pytest.mark.docker]

BIN = Path(sys.executable).parent
DEPLOYMENT = "infinite-orchestra/infinite-orchestra"
REGISTRY_IMAGES = {
    "memory": ["neo4j:5.26-community"],
    "logs": ["grafana/loki:3.6.5", "grafana/alloy:v1.13.0", "grafana/grafana:12.3.1"],
}
UP_TIMEOUT = 900  # the first build of the image from the Debian base takes minutes
RUN_TIMEOUT = 600


def missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def compose() -> list[str]:
    tool = compose_tool()
    if tool is None:
        missing("neither `docker compose` nor `docker-compose` is installed")
    assert tool is not None
    return tool


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_SAFE},
    )
    return out.stdout.strip()


@dataclass
class Stack:
    name: str
    project: Path
    api_url: str
    env: dict[str, str]

    def make(self, *targets: str, timeout: float = UP_TIMEOUT, **variables: str) -> str:
        """``make <targets>`` for this stack (its Compose project name, the core profile)."""
        assigns = [f"{k}={v}" for k, v in {"STACK_PROJECT": self.name, **variables}.items()]
        done = subprocess.run(
            ["make", "--no-print-directory", *targets, "STACK_PROFILES=core", *assigns],
            check=False,
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"make {' '.join(targets)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def host(self, *argv: str, timeout: float = RUN_TIMEOUT) -> str:
        """A command of the venv on the host, pointed at the stack's Prefect API."""
        env = {**self.env, "PREFECT_API_URL": self.api_url, **GIT_SAFE}
        done = subprocess.run(
            [str(BIN / argv[0]), *argv[1:]],
            check=False,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.api_url}{path}", timeout=10)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        response = httpx.post(f"{self.api_url}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def logs(self) -> str:
        done = subprocess.run(
            [*compose(), "-p", self.name, "-f", "docker/compose.yaml", "--profile", "core", "logs"],
            check=False,
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout[-6000:] + done.stderr[-2000:]


def stack_config(base_url: str) -> dict[str, Any]:
    """aider in the worker image for every role; one task per cycle; cycles never idle-gated."""
    return {
        "workers": aider_workers("docker", base_url=base_url, image=WORKER_IMAGE),
        "git": {"integration": "branch"},
        "memory": {"backend": "none"},
        "workflows": {
            "infinite_orchestra": {"max_tasks_per_cycle": 1},
            "triggers": {"infinite_orchestra": {"idle_minutes": 0}},
        },
    }


@pytest.fixture
def images(docker_client: Any) -> None:
    from docker.errors import ImageNotFound

    for image, fix in ((WORKER_IMAGE, "make worker-image"), (BASE_IMAGE, "make images")):
        try:
            docker_client.images.get(image)
        except ImageNotFound:
            missing(f"the image {image!r} is missing: run `{fix}` (or `make test`)")


@pytest.fixture
def standin() -> Iterator[tuple[ChatAPI, AiderScript]]:
    """The stand-in on loopback and the Docker bridge gateway, one port."""
    ip = docker_bridge_ip()
    if ip is None:
        missing("no docker0 bridge: Docker is needed for this test")
    script = AiderScript()
    with ChatAPI(script, hosts=("127.0.0.1", ip)) as api:
        yield api, script


@pytest.fixture
def stack(
    tmp_path: Path, docker_client: Any, images: None, standin: tuple[ChatAPI, AiderScript]
) -> Iterator[Stack]:
    api, _ = standin
    compose()
    project = make_repo(tmp_path / "calc", stack_config(api.url))
    (project / ".git" / "info" / "exclude").write_text(".orchestra/\n", encoding="utf-8")
    enqueue(project)
    task2 = TASK.replace("task-01", "task-02").replace("title: Fix add", "title: Fix add again")
    (project / ".orchestra" / "queue" / "task-02.md").write_text(task2, encoding="utf-8")
    hand_to_stack(project)  # the worker runs as the image's uid and writes .orchestra/
    name = f"orch9c-stack-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        **stack_env(name, port),
        "ORCHESTRA_PROJECT": str(project),
        "ORCHESTRA_MEMORY__BACKEND": "none",
    }
    stack = Stack(name, project, f"http://127.0.0.1:{port}/api", env)
    try:
        yield stack
    finally:
        stack_down(name, env, docker_client)


def wait_for_run(stack: Stack, run_id: str) -> dict[str, Any]:
    """The flow run once it is final (the worker picks it up and runs it)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run = stack.get(f"/flow_runs/{run_id}")
        if run["state"]["type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
            return dict(run)
        time.sleep(2)
    raise AssertionError(f"flow run {run_id} not final after {RUN_TIMEOUT} s:\n{stack.logs()}")


@pytest.mark.timeout(1500)
def test_core_stack_runs_scheduled_cycles(
    stack: Stack, standin: tuple[ChatAPI, AiderScript], docker_client: Any
) -> None:
    api, script = standin
    stack.make("stack-up")
    # The docs' deploy sequence, from the host against the stack's server.
    stack.host("python", "-m", "deployments.pools")
    stack.host("prefect", "--no-prompt", "deploy", "--all", "--prefect-file", "docker/prefect.yaml")
    deployment = stack.get(f"/deployments/name/{DEPLOYMENT}")
    (schedule,) = deployment["schedules"]
    assert schedule["active"] is False  # deployed inactive: nothing runs on its own
    stack.host("prefect", "deployment", "schedule", "resume", DEPLOYMENT, schedule["id"])
    assert stack.get(f"/deployments/name/{DEPLOYMENT}")["schedules"][0]["active"] is True

    # Two cycles, one task each, run by the worker container.
    for task_id in ("task-01", "task-02"):
        run = stack.post(f"/deployments/{deployment['id']}/create_flow_run", {})
        final = wait_for_run(stack, run["id"])
        assert final["state"]["type"] == "COMPLETED", (final["state"], stack.logs())
        assert final["state"]["message"].startswith("planned 0, ran 1, archived 1"), final["state"]
        assert final["parameters"] == {"project": ".", "scheduled": True}
        done = stack.project / ".orchestra" / "done"
        assert list(done.glob(f"{task_id}-*.md")), sorted(p.name for p in done.iterdir())

    # Each step was a sibling container of the worker image: the profile said 127.0.0.1, the
    # requests came to the host's gateway name the sandbox rewrote it to.
    assert script.roles.count("coder") == 2
    hosts = {r.headers.get("Host", "") for r in api.chat_requests}
    assert hosts == {f"host.docker.internal:{api.port}"}, hosts
    for branch in ("orchestra/task-01", "orchestra/task-02"):
        assert git(stack.project, "diff", "--name-only", f"main..{branch}") == "calc.py"
        assert "return a + b" in git(stack.project, "show", f"{branch}:calc.py")
    assert not list((stack.project / ".orchestra" / "queue").glob("*.md"))

    # The kill switch pauses the schedule on the stack's server.
    stack.host("orchestra", "stop", "--project", str(stack.project))
    assert stack.get(f"/deployments/name/{DEPLOYMENT}")["schedules"][0]["active"] is False

    stack.make("stack-down", PURGE="1", timeout=180)
    assert leftovers(docker_client, stack.name) == {"containers": [], "networks": [], "volumes": []}


def test_stack_deployments_match_prefect_yaml() -> None:
    """docker/prefect.yaml = prefect.yaml, but module entrypoints and the /project pull step."""
    local = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    stacked = yaml.safe_load((REPO / "docker" / "prefect.yaml").read_text(encoding="utf-8"))
    assert stacked["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "/project"}}
    ]
    assert stacked["prefect-version"] == local["prefect-version"]
    for mine, theirs in zip(stacked["deployments"], local["deployments"], strict=True):
        file, colon, function = theirs["entrypoint"].partition(":")
        if colon:  # a file entrypoint becomes its module's
            assert mine["entrypoint"] == file.removesuffix(".py").replace("/", ".") + "." + function
        else:  # already a module entrypoint (the pool deployment)
            assert mine["entrypoint"] == theirs["entrypoint"]
        assert {**mine, "entrypoint": None} == {**theirs, "entrypoint": None}


def test_registry_profiles(docker_client: Any) -> None:
    """Neo4j (memory), Loki, Alloy and Grafana (logs) come only from a registry."""
    from docker.errors import ImageNotFound

    absent = []
    for images in REGISTRY_IMAGES.values():
        for image in images:
            try:
                docker_client.images.get(image)
            except ImageNotFound:
                absent.append(image)
    if absent:
        pytest.skip(
            f"the memory and logs profiles need {', '.join(absent)}, which only a registry "
            "provides (none is reachable here); the core profile runs in "
            "test_core_stack_runs_scheduled_cycles"
        )
    compose_file = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text(encoding="utf-8"))
    used = {s["image"] for s in compose_file["services"].values() if "prefect" not in s["image"]}
    assert {i for group in REGISTRY_IMAGES.values() for i in group} <= used, used

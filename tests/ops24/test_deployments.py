"""prefect.yaml against orchestra.yaml, and the deployments on a real ``prefect server start``.

The first classes read the checked-in files only (fast). ``TestOnServer`` starts a real Prefect
server with its own PREFECT_HOME, deploys with the real CLI from the repository root, and reads
schedules and flow runs back through the REST API.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from ops24_support import REPO, kill_group, queue_tasks

BIN = Path(sys.executable).parent
PREFECT_YAML = REPO / "prefect.yaml"
ORCHESTRA_YAML = REPO / "orchestra.yaml"
#: Deployments that carry a schedule, and the orchestra.yaml trigger each must agree with.
SCHEDULED = {"infinite-orchestra": "infinite_orchestra", "self-improve": "self_improve_on_idle"}
LOCAL_DEPLOYMENTS = {
    "infinite-orchestra",
    "infinite-orchestra-plan",
    "roocode-boomerang",
    "self-improve",
}
#: The task deployment of `dispatch: pool`, on its own pool, run by any number of workers.
POOL_DEPLOYMENT = "roocode-boomerang-pool"
ALL_DEPLOYMENTS = LOCAL_DEPLOYMENTS | {POOL_DEPLOYMENT}
SERVER_START_TIMEOUT = 120
SCHEDULER_LOOP_SECONDS = 2


def deployments() -> dict[str, dict[str, Any]]:
    """prefect.yaml's deployments by name."""
    data = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))
    return {d["name"]: d for d in data["deployments"]}


def triggers() -> Any:
    """orchestra.yaml's workflows.triggers, with the defaults of keys it leaves out."""
    from orchestra.config.models import OrchestraConfig

    raw = yaml.safe_load(ORCHESTRA_YAML.read_text(encoding="utf-8"))
    return OrchestraConfig.model_validate(raw).workflows.triggers


def entrypoint_object(entrypoint: str) -> Any:
    """Load ``file.py:function`` the way `prefect deploy` does: by file path (a dotted module
    path, the pool deployment's form, is imported)."""
    if ":" not in entrypoint:
        from prefect.utilities.importtools import import_object

        return import_object(entrypoint)
    file, _, name = entrypoint.partition(":")
    path = REPO / file
    assert path.is_file(), f"entrypoint file {file} does not exist"
    spec = importlib.util.spec_from_file_location(f"ops24_entry_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert hasattr(module, name), f"{file} defines no {name}"
    return getattr(module, name)


class TestSchedulesMatchConfig:
    """The schedules in prefect.yaml say what orchestra.yaml's triggers say."""

    @pytest.mark.parametrize(("name", "trigger"), sorted(SCHEDULED.items()))
    def test_active_matches_enabled(self, name: str, trigger: str) -> None:
        """Each schedule of a scheduled deployment is active exactly when its trigger is enabled."""
        enabled = getattr(triggers(), trigger).enabled
        schedules = deployments()[name]["schedules"]
        assert schedules
        assert [s["active"] for s in schedules] == [enabled] * len(schedules)

    @pytest.mark.parametrize(("name", "trigger"), sorted(SCHEDULED.items()))
    def test_interval_is_cooldown(self, name: str, trigger: str) -> None:
        """Each schedule's interval (seconds) is the trigger's cooldown_minutes * 60."""
        cooldown = getattr(triggers(), trigger).cooldown_minutes
        intervals = [s.get("interval") for s in deployments()[name]["schedules"]]
        assert intervals == [cooldown * 60] * len(intervals)

    def test_every_schedule_inactive(self) -> None:
        """Every schedule of every deployment is registered inactive: nothing runs by itself."""
        found = [
            (n, s.get("active")) for n, d in deployments().items() for s in d.get("schedules") or []
        ]
        assert found
        assert all(active is False for _, active in found), found

    def test_only_cycle_deployments_scheduled(self) -> None:
        """Only the two cycle deployments have schedules (planner and task runs are on demand)."""
        assert {n for n, d in deployments().items() if d.get("schedules")} == set(SCHEDULED)

    @pytest.mark.parametrize("name", sorted(SCHEDULED))
    def test_scheduled_runs_pass_scheduled(self, name: str) -> None:
        """A scheduled deployment passes scheduled=true, so its runs go through the idle gate."""
        assert deployments()[name]["parameters"]["scheduled"] is True


class TestDeploymentDefinitions:
    """Every deployment is safe to run unattended and points at a real flow."""

    def test_the_five_deployments(self) -> None:
        """prefect.yaml declares exactly the five deployments `orchestra stop` knows."""
        assert set(deployments()) == ALL_DEPLOYMENTS

    @pytest.mark.parametrize("name", sorted(LOCAL_DEPLOYMENTS))
    def test_concurrency_limit(self, name: str) -> None:
        """At most one run per deployment; a second one is cancelled, not queued."""
        assert deployments()[name]["concurrency_limit"] == {
            "limit": 1,
            "collision_strategy": "CANCEL_NEW",
        }

    def test_pool_deployment(self) -> None:
        """The pool task deployment: the config's default pool, no deployment-wide limit (the
        workers' --limit bounds it), the definition the cycle creates on first use."""
        from orchestra.config.models import InfiniteOrchestraConfig
        from orchestra.prefect import pool

        found = deployments()[POOL_DEPLOYMENT]
        assert found["work_pool"]["name"] == InfiniteOrchestraConfig().pool
        assert "concurrency_limit" not in found
        assert found["entrypoint"] == pool.ENTRYPOINT
        assert found["work_pool"]["job_variables"]["env"] == pool.JOB_ENV
        assert f"{pool.FLOW_NAME}/{POOL_DEPLOYMENT}" == pool.FULL_NAME

    @pytest.mark.parametrize("name", sorted(LOCAL_DEPLOYMENTS))
    def test_work_pool(self, name: str) -> None:
        """Every deployment runs on the `orchestra` work pool."""
        assert deployments()[name]["work_pool"]["name"] == "orchestra"

    @pytest.mark.parametrize("name", sorted(ALL_DEPLOYMENTS))
    def test_entrypoint_is_named_flow(self, name: str) -> None:
        """The entrypoint is a Prefect flow, and flow/deployment is in orchestra stop's pause list."""
        from prefect import Flow

        from orchestra.prefect.schedules import DEPLOYMENTS

        obj = entrypoint_object(deployments()[name]["entrypoint"])
        assert isinstance(obj, Flow)
        assert f"{obj.name}/{name}" in DEPLOYMENTS

    @pytest.mark.parametrize("name", sorted(ALL_DEPLOYMENTS))
    def test_parameters_exist(self, name: str) -> None:
        """Every parameter a deployment sets is a parameter of its flow function."""
        obj = entrypoint_object(deployments()[name]["entrypoint"])
        accepted = set(inspect.signature(obj.fn).parameters)
        assert set(deployments()[name].get("parameters") or {}) <= accepted


# ----------------------------------------------------------------------------- real server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A `prefect server start` subprocess and how to talk to it."""

    url: str
    env: dict[str, str]
    log: Path

    def cli(self, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
        """Run a CLI from the virtualenv against this server; a failure fails the test."""
        done = subprocess.run(
            [str(BIN / args[0]), *args[1:]],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.url}{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(f"{self.url}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def deployment(self, name: str) -> Any:
        """A deployment by `flow/deployment` name."""
        return self.get(f"/deployments/name/{name}")

    def schedules_active(self, name: str) -> list[bool]:
        return [
            s["active"] for s in self.get(f"/deployments/{self.deployment(name)['id']}/schedules")
        ]

    def flow_runs(self, name: str) -> list[dict[str, Any]]:
        """Every flow run of one deployment, any state."""
        dep_id = self.deployment(name)["id"]
        runs: list[dict[str, Any]] = self.post(
            "/flow_runs/filter", {"deployments": {"id": {"any_": [dep_id]}}}
        )
        return runs


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"prefect server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"prefect server not healthy after {SERVER_START_TIMEOUT} s:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `prefect server start` on a free port with its own PREFECT_HOME; killed after."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORCHESTRA_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS=str(SCHEDULER_LOOP_SECONDS),
        PREFECT_CLI_PROMPT="false",
    )
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(url, proc, log)
        yield Server(url, {**env, "PREFECT_API_URL": url}, log)
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            proc.wait()


@dataclass
class Story:
    """What the server showed at each step of switching the schedule on and off again."""

    deploy_output: str = ""
    names: set[str] = field(default_factory=set)
    active_after_deploy: dict[str, list[bool]] = field(default_factory=dict)
    runs_after_deploy: list[dict[str, Any]] = field(default_factory=list)
    runs_after_resume: list[dict[str, Any]] = field(default_factory=list)
    seconds_to_runs: float = 0.0
    runs_after_pause: list[dict[str, Any]] = field(default_factory=list)
    runs_later: list[dict[str, Any]] = field(default_factory=list)
    active_before_stop: dict[str, list[bool]] = field(default_factory=dict)
    stop_output: str = ""
    active_after_stop: dict[str, list[bool]] = field(default_factory=dict)
    stop_file: Path | None = None


def _schedule_id(server: Server, name: str) -> str:
    [schedule] = server.get(f"/deployments/{server.deployment(name)['id']}/schedules")
    return str(schedule["id"])


def _wait_runs(server: Server, name: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = server.flow_runs(name)
        if runs:
            return runs
        time.sleep(0.5)
    return []


@pytest.fixture(scope="module")
def story(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Story:
    """Deploy, wait, resume the cycle's schedule, pause it, resume both, `orchestra stop`."""
    told = Story()
    cycle = "infinite-orchestra/infinite-orchestra"
    improve = "infinite-orchestra/self-improve"
    server.cli("prefect", "work-pool", "create", "orchestra", "--type", "process")
    server.cli("prefect", "work-pool", "create", "orchestra-tasks", "--type", "process")
    told.deploy_output = server.cli("prefect", "--no-prompt", "deploy", "--all").stdout
    found = server.post("/deployments/filter", {})
    told.names = {f"{server.get('/flows/' + d['flow_id'])['name']}/{d['name']}" for d in found}
    time.sleep(3 * SCHEDULER_LOOP_SECONDS + 1)  # the scheduler had its chances
    told.active_after_deploy = {n: server.schedules_active(n) for n in (cycle, improve)}
    told.runs_after_deploy = server.flow_runs(cycle) + server.flow_runs(improve)

    started = time.monotonic()
    server.cli("prefect", "deployment", "schedule", "resume", cycle, _schedule_id(server, cycle))
    told.runs_after_resume = _wait_runs(server, cycle, timeout=90)
    told.seconds_to_runs = time.monotonic() - started

    server.cli("prefect", "deployment", "schedule", "pause", cycle, _schedule_id(server, cycle))
    told.runs_after_pause = server.flow_runs(cycle)
    time.sleep(3 * SCHEDULER_LOOP_SECONDS + 1)
    told.runs_later = server.flow_runs(cycle)

    for name in (cycle, improve):
        server.cli("prefect", "deployment", "schedule", "resume", name, _schedule_id(server, name))
    told.active_before_stop = {n: server.schedules_active(n) for n in (cycle, improve)}
    project = tmp_path_factory.mktemp("stopped")
    told.stop_output = server.cli("orchestra", "stop", "--project", str(project)).stdout
    told.active_after_stop = {n: server.schedules_active(n) for n in (cycle, improve)}
    told.stop_file = project / ".orchestra" / "STOP"
    return told


@dataclass
class WorkerRun:
    """A flow run of the infinite-orchestra deployment executed by a real process worker."""

    run: dict[str, Any]
    worker_output: str
    active_before: list[bool]
    active_after: list[bool]


@pytest.fixture(scope="module")
def worker_run(
    server: Server,
    story: Story,
    new_demo: Callable[[Path], Path],
    demo_task: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> WorkerRun:
    """Resume the cycle's schedule, then let a worker run the deployment on a failing demo."""
    name = "infinite-orchestra/infinite-orchestra"
    base = tmp_path_factory.mktemp("worker")
    project = new_demo(base / "demo")
    queue_tasks(project, demo_task, "multiply")
    server.cli("prefect", "deployment", "schedule", "resume", name, _schedule_id(server, name))
    active_before = server.schedules_active(name)
    run = server.post(
        f"/deployments/{server.deployment(name)['id']}/create_flow_run",
        {"parameters": {"project": str(project), "scheduled": False}},
    )
    env = {
        **server.env,
        "XDG_CONFIG_HOME": str(base / "xdg"),
        "DEMO_AGENT_FAIL_ROLE": "coder",
        "ORCHESTRA_LIMITS__MAX_CONSECUTIVE_FAILURES": "1",
    }
    worker = subprocess.run(
        [
            str(BIN / "prefect"),
            "worker",
            "start",
            "--pool",
            "orchestra",
            "--run-once",
            "--limit",
            "1",
        ],
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    return WorkerRun(
        run=server.get(f"/flow_runs/{run['id']}"),
        worker_output=worker.stdout + worker.stderr,
        active_before=active_before,
        active_after=server.schedules_active(name),
    )


@pytest.mark.prefect
@pytest.mark.slow
class TestOnServer:
    """`prefect deploy --all` on a real server: nothing runs until a schedule is resumed."""

    def test_five_deployments_registered(self, story: Story) -> None:
        """The server holds the five deployments of prefect.yaml under their flow names."""
        from orchestra.prefect.schedules import DEPLOYMENTS

        assert story.names == set(DEPLOYMENTS), story.deploy_output

    def test_schedules_arrive_inactive(self, story: Story) -> None:
        """Right after deploy, both cycle schedules are inactive on the server."""
        assert story.active_after_deploy == {n: [False] for n in story.active_after_deploy}

    def test_no_runs_after_deploy(self, story: Story) -> None:
        """Several scheduler loops after deploy, no flow run exists for any schedule."""
        assert story.runs_after_deploy == []

    def test_resume_creates_scheduled_runs(self, story: Story) -> None:
        """Resuming the cycle's schedule makes the scheduler create Scheduled flow runs."""
        assert story.runs_after_resume, "no scheduled run appeared"
        assert {r["state_type"] for r in story.runs_after_resume} == {"SCHEDULED"}

    def test_scheduled_runs_are_gated(self, story: Story) -> None:
        """The scheduled runs carry scheduled=True (idle gate, daily budget) and project '.'."""
        assert story.runs_after_resume
        for run in story.runs_after_resume:
            assert run["parameters"] == {"project": ".", "scheduled": True}

    def test_pause_leaves_no_scheduled_runs(self, story: Story) -> None:
        """Pausing removes the future runs, and the scheduler creates no new ones after."""
        assert [r for r in story.runs_after_pause if r["state_type"] == "SCHEDULED"] == []
        assert story.runs_later == story.runs_after_pause

    def test_orchestra_stop_pauses_schedules(self, story: Story) -> None:
        """`orchestra stop` with PREFECT_API_URL set pauses every active schedule it knows."""
        assert story.active_before_stop == {n: [True] for n in story.active_before_stop}
        assert story.active_after_stop == {n: [False] for n in story.active_after_stop}
        assert "paused schedules: " in story.stop_output
        assert story.stop_file is not None
        assert story.stop_file.is_file()

    def test_a_deploy_that_would_replace_the_other_files_refuses(
        self, server: Server, story: Story
    ) -> None:
        """With prefect.yaml's deployments on the server, deploying docker/prefect.yaml (same
        names) stops before writing anything and says which deployment, from which file, and
        what to do; prefect.yaml itself deploys again as before."""
        name = "infinite-orchestra/infinite-orchestra"
        before = server.deployment(name)
        done = subprocess.run(
            [str(BIN / "prefect"), "--no-prompt", "deploy", "--prefect-file",
             "docker/prefect.yaml", "--name", "infinite-orchestra"],
            cwd=REPO, env=server.env, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        said = " ".join((done.stdout + done.stderr).split())
        assert done.returncode != 0, said
        assert f"deployment '{name}' on this Prefect server was made from prefect.yaml" in said
        assert "would replace it" in said
        assert f"prefect deployment delete {name}" in said
        after = server.deployment(name)
        assert (after["entrypoint"], after["updated"]) == (before["entrypoint"], before["updated"])
        again = server.cli("prefect", "--no-prompt", "deploy", "--name", "infinite-orchestra-plan")
        assert "infinite-orchestra-plan" in again.stdout

    def test_worker_runs_the_deployment(self, worker_run: WorkerRun) -> None:
        """A process worker runs the deployment's cycle to a final state (here: Failed)."""
        assert worker_run.run["state_type"] == "FAILED", worker_run.worker_output[-3000:]

    def test_consecutive_failures_pause_schedule(self, worker_run: WorkerRun) -> None:
        """A deployment cycle stopped by max_consecutive_failures pauses its own schedule."""
        assert worker_run.active_before == [True]
        message = worker_run.run["state"]["message"]
        assert "consecutive failures since" in message
        assert "(limits.max_consecutive_failures 1)" in message
        assert "1 schedule(s) of this deployment paused" in message
        assert worker_run.active_after == [False]

    def test_failed_cycle_ends_without_engine_traceback(self, worker_run: WorkerRun) -> None:
        """A deployed cycle that fails ends Failed with its own message; the worker's output
        has no engine traceback (`TypeError: Unexpected result for failed state ... dict
        cannot be resolved into an exception`, or any other)."""
        out = worker_run.worker_output
        message = worker_run.run["state"]["message"]
        assert message.startswith("cycle finished with failures: planned 0, ran 1"), out[-3000:]
        assert "failing as coder on purpose" in out  # the step's failure is told, once
        assert "Engine execution exited with unexpected exception" not in out, out[-6000:]
        assert "cannot be resolved into an exception" not in out, out[-6000:]
        assert "Traceback" not in out, out[-6000:]

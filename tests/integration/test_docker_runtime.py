"""The Docker runtime against a real engine, with the busybox test image."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestra.config.models import DockerConfig
from orchestra.errors import AgentNotInstalledError, RuntimeUnavailableError, SandboxPolicyError
from orchestra.runtime.base import StepRequest, StepResult, WorkerRuntime
from orchestra.runtime.docker import DockerRuntime
from orchestra.runtime.docker_sweep import sweep
from orchestra.runtime.ownership import STEP_USER

pytestmark = pytest.mark.docker

MakeRuntime = Callable[..., DockerRuntime]


@pytest.fixture
def make_runtime(docker_project: str, docker_image: str, run_id: str) -> MakeRuntime:
    """Build a runtime for this test's run id; keyword arguments are DockerConfig fields."""

    def make(**cfg: Any) -> DockerRuntime:
        kill_grace = cfg.pop("kill_grace", 1.0)
        config = DockerConfig(image=cfg.pop("image", docker_image), **cfg)
        return DockerRuntime(
            config, project_id=docker_project, run_id=run_id, kill_grace=kill_grace
        )

    return make


def make_request(tmp_path: Path, argv: list[str], **overrides: Any) -> StepRequest:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    fields: dict[str, Any] = {
        "argv": argv,
        "workspace": workspace,
        "output_dir": tmp_path / "out",
        "timeout": 30,
        "labels": {"task": "task-01"},
        "name": "implement",
    }
    fields.update(overrides)
    return StepRequest(**fields)


def run_lines(runtime: DockerRuntime, request: StepRequest) -> tuple[StepResult, list[str]]:
    """Run a step; return its result and its stdout lines as on_line saw them."""
    seen: list[tuple[str, str]] = []
    result = runtime.run(request, on_line=lambda stream, line: seen.append((stream, line)))
    return result, [line for stream, line in seen if stream == "stdout"]


def containers_of(client: Any, run_id: str) -> list[str]:
    """Ids of the containers of ``run_id`` (low-level list: no inspect racing a removal)."""
    found = client.api.containers(all=True, filters={"label": f"orchestra.run={run_id}"})
    return [summary["Id"] for summary in found]


def run_in_thread(
    runtime: DockerRuntime, request: StepRequest, should_stop: Callable[[], str | None]
) -> tuple[threading.Thread, dict[str, StepResult]]:
    out: dict[str, StepResult] = {}
    thread = threading.Thread(
        target=lambda: out.update(result=runtime.run(request, should_stop=should_stop)),
        daemon=True,
    )
    thread.start()
    return thread, out


def wait_running(client: Any, run_id: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = client.api.containers(filters={"label": f"orchestra.run={run_id}"})
        running = [c for c in running if "orchestra.sidecar" not in (c.get("Labels") or {})]
        if running:
            return client.api.inspect_container(running[0]["Id"])
        time.sleep(0.05)
    pytest.fail(f"no running container of {run_id} within {timeout}s")


class TestRun:
    def test_is_a_worker_runtime(self, run_id: str, make_runtime: MakeRuntime) -> None:
        """DockerRuntime satisfies the WorkerRuntime protocol."""
        runtime = make_runtime()
        assert isinstance(runtime, WorkerRuntime)
        assert runtime.name == "docker"

    def test_step_runs_lines_in_order(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """Exit code, stdout lines in order (also split across chunks), stderr apart; removed."""
        script = 'i=1; while [ $i -le 200 ]; do echo "line $i"; i=$((i+1)); done; '
        script += "printf 'no-newline'; echo oops >&2; exit 7"
        result, lines = run_lines(make_runtime(), make_request(tmp_path, ["sh", "-c", script]))
        assert result.exit_code == 7
        assert not result.timed_out and result.stopped_reason is None
        assert lines == [f"line {i}" for i in range(1, 201)] + ["no-newline"]
        assert result.stdout.splitlines() == lines
        assert result.stderr == "oops"
        assert result.output_tail.splitlines()[-1] in ("oops", "no-newline")
        assert containers_of(docker_client, run_id) == []

    def test_running_step_has_sandbox_defaults(
        self,
        docker_client: Any,
        tmp_path: Path,
        run_id: str,
        make_runtime: MakeRuntime,
        docker_project: str,
    ) -> None:
        """`docker inspect` of a running step shows every sandbox default."""
        runtime = make_runtime(cpus=0.5, mem_limit="256m", pids_limit=64, read_only_rootfs=True)
        request = make_request(tmp_path, ["sleep", "30"], read_only_workspace=True)
        stop = threading.Event()
        thread, out = run_in_thread(runtime, request, lambda: "done" if stop.is_set() else None)
        try:
            attrs = wait_running(docker_client, run_id)
            network = docker_client.networks.get(attrs["HostConfig"]["NetworkMode"])
        finally:
            stop.set()
            thread.join(15)
        config, host = attrs["Config"], attrs["HostConfig"]
        own = f"{os.getuid()}:{os.getgid()}"
        assert config["User"] == (STEP_USER if os.getuid() == 0 else own)  # never root by default
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["PidsLimit"] == 64
        assert host["Memory"] == 256 * 1024 * 1024
        assert host["NanoCpus"] == 500_000_000
        assert host["Init"] is True
        assert host["ReadonlyRootfs"] is True
        assert "/tmp" in host["Tmpfs"]
        # The step's own network behind the egress proxy: no host-gateway entry.
        assert host["NetworkMode"].startswith("orchestra-")
        assert not host["ExtraHosts"]
        assert network.attrs["Internal"] is True
        assert network.attrs["Options"]["com.docker.network.bridge.inhibit_ipv4"] == "true"
        assert host["PortBindings"] in (None, {})
        assert config["WorkingDir"] == "/workspace"
        assert "HOME=/tmp" in config["Env"]
        labels = config["Labels"]
        assert labels["orchestra.project"] == docker_project
        assert labels["orchestra.run"] == run_id
        assert labels["orchestra.task"] == "task-01"
        assert labels["orchestra.step"] == "implement"
        assert labels["orchestra.managed"] == "true"
        mounts = {m["Destination"]: m for m in attrs["Mounts"]}
        assert mounts["/workspace"]["RW"] is False
        assert mounts["/workspace"]["Source"] == str(request.workspace)
        assert mounts["/orchestra/out"]["RW"] is True
        assert not any("docker.sock" in m["Source"] for m in attrs["Mounts"])
        assert out["result"].stopped_reason == "done"
        assert containers_of(docker_client, run_id) == []

    def test_read_only_workspace_is_enforced(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """A read-only role cannot write the workspace, but can write its output folder."""
        script = "touch /workspace/x || echo denied; echo report > /orchestra/out/r.md"
        request = make_request(tmp_path, ["sh", "-c", script], read_only_workspace=True)
        _, lines = run_lines(make_runtime(), request)
        assert lines == ["denied"]
        assert not (request.workspace / "x").exists()
        assert (request.output_dir / "r.md").read_text() == "report\n"

    def test_files_belong_to_host_user(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """Files written in the workspace belong to the host uid:gid by default."""
        request = make_request(tmp_path, ["touch", "/workspace/made"])
        assert make_runtime().run(request).exit_code == 0
        made = (request.workspace / "made").stat()
        assert (made.st_uid, made.st_gid) == (os.getuid(), os.getgid())

    def test_explicit_user(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """docker.user sets who runs the step; a root orchestrator gets the files back."""
        request = make_request(tmp_path, ["sh", "-c", "id -u; id -g; touch /workspace/made"])
        request.workspace.chmod(0o777)
        result, lines = run_lines(make_runtime(user="1234:1234"), request)
        assert result.exit_code == 0, result.output_tail
        assert lines == ["1234", "1234"]
        made = (request.workspace / "made").stat()
        # Only root can hand the folders over and back; anyone else leaves the step's files.
        owner = (os.getuid(), os.getgid()) if os.getuid() == 0 else (1234, 1234)
        assert (made.st_uid, made.st_gid) == owner


class TestEnvAndPaths:
    def test_env_allowlist(
        self,
        docker_client: Any,
        tmp_path: Path,
        run_id: str,
        monkeypatch: pytest.MonkeyPatch,
        make_runtime: MakeRuntime,
    ) -> None:
        """Only request.env (plus HOME) is set inside; host variables are absent."""
        monkeypatch.setenv("ORCHESTRA_IT_HOST_ONLY", "leak")
        request = make_request(tmp_path, ["env"], env={"ALLOWED": "yes"})
        result, lines = run_lines(make_runtime(), request)
        assert result.exit_code == 0
        assert "ALLOWED=yes" in lines
        assert "HOME=/tmp" in lines
        assert not any("ORCHESTRA_IT_HOST_ONLY" in line or "leak" in line for line in lines)

    def test_loopback_and_path_rewrite(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """localhost URLs reach the host gateway name; host workspace paths become /workspace."""
        request = make_request(
            tmp_path,
            ["sh", "-c", f'echo "$API"; echo "$SRC"; cat {tmp_path}/ws/hello.txt; pwd'],
            env={"API": "http://localhost:8080", "SRC": f"{tmp_path}/ws/src"},
        )
        (request.workspace / "hello.txt").write_text("hello from the host\n")
        result, lines = run_lines(make_runtime(), request)
        assert result.exit_code == 0, result.output_tail
        assert lines == [
            "http://host.docker.internal:8080",
            "/workspace/src",
            "hello from the host",
            "/workspace",
        ]

    def test_host_gateway_resolves(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """On `network: bridge`, host.docker.internal is in the container's /etc/hosts."""
        request = make_request(tmp_path, ["grep", "-c", "host.docker.internal", "/etc/hosts"])
        result, lines = run_lines(make_runtime(network="bridge"), request)
        assert (result.exit_code, lines) == (0, ["1"])

    def test_stdin_prompt(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """The prompt file reaches the process on stdin, then end-of-file."""
        prompt = tmp_path / "prompt.md"
        text = (
            "# Task\n\nDo the thing — carefully.\n" + "\n".join(["x" * 100] * 3000) + "\nlast line"
        )
        prompt.write_text(text)
        request = make_request(tmp_path, ["cat"], stdin_path=prompt, timeout=20)
        result, _ = run_lines(make_runtime(), request)
        assert result.exit_code == 0
        assert not result.timed_out
        assert result.stdout == text

    def test_stdin_not_read(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """A step that ignores a large prompt still finishes promptly."""
        prompt = tmp_path / "prompt.md"
        prompt.write_bytes(b"y" * 4_000_000)
        request = make_request(tmp_path, ["true"], stdin_path=prompt, timeout=20)
        result = make_runtime().run(request)
        assert result.exit_code == 0
        assert result.duration < 10

    def test_no_stdin_means_empty(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """Without a prompt file stdin is empty (a reader does not hang)."""
        result = make_runtime().run(make_request(tmp_path, ["cat"], timeout=10))
        assert (result.exit_code, result.stdout, result.timed_out) == (0, "", False)


class TestStop:
    def test_timeout_stops_and_removes(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """Past its time limit a step is stopped (killed if it ignores SIGTERM) and removed."""
        script = "trap '' TERM; echo started; while true; do sleep 1; done"
        request = make_request(tmp_path, ["sh", "-c", script], timeout=1.5)
        result, lines = run_lines(make_runtime(kill_grace=1.0), request)
        assert result.timed_out
        assert result.exit_code is None
        assert lines == ["started"]
        assert result.duration < 8
        assert containers_of(docker_client, run_id) == []

    def test_should_stop(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """should_stop ends the step promptly with its reason and removes the container."""
        asked: list[float] = []

        def should_stop() -> str | None:
            if containers_of(docker_client, run_id) and not asked:
                asked.append(time.monotonic())
            return "cancelled by user" if asked else None

        request = make_request(tmp_path, ["sleep", "60"])
        result = make_runtime(kill_grace=5.0).run(request, should_stop=should_stop)
        assert result.stopped_reason == "cancelled by user"
        assert result.exit_code is None and not result.timed_out
        assert time.monotonic() - asked[0] < 3  # sleep dies on SIGTERM via the init process
        assert containers_of(docker_client, run_id) == []

    def test_should_stop_exception_still_removes(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """An exception from should_stop propagates, and the container is removed anyway."""

        def should_stop() -> str | None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            make_runtime().run(make_request(tmp_path, ["sleep", "60"]), should_stop=should_stop)
        assert containers_of(docker_client, run_id) == []


class TestSweep:
    def test_sweep_removes_dead_runs_only(
        self, docker_client: Any, run_id: str, docker_project: str, docker_image: str
    ) -> None:
        """Containers of runs not kept are removed; those of live runs stay."""

        def leftover(run: str) -> Any:
            labels = {
                "orchestra.project": docker_project,
                "orchestra.run": run,
                "orchestra.managed": "true",
            }
            return docker_client.containers.create(
                docker_image, entrypoint=["sleep"], command=["60"], labels=labels
            )

        dead, live = leftover(f"{run_id}-dead"), leftover(f"{run_id}-live")
        dead.start()
        try:
            removed = sweep(docker_client, docker_project, {f"{run_id}-live"})
            assert dead.id in removed
            assert live.id not in removed
            assert containers_of(docker_client, f"{run_id}-dead") == []
            assert containers_of(docker_client, f"{run_id}-live") == [live.id]
        finally:
            live.remove(force=True)


class TestErrors:
    def test_unreachable_engine(
        self, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """preflight and run name the engine address and the fixes."""
        runtime = make_runtime(base_url="unix:///nonexistent.sock")
        with pytest.raises(
            RuntimeUnavailableError, match=re.escape("unix:///nonexistent.sock")
        ) as info:
            runtime.preflight("sh")
        assert "start Docker" in str(info.value)
        assert "runtime: {kind: process}" in str(info.value)
        with pytest.raises(RuntimeUnavailableError, match="nonexistent"):
            runtime.run(make_request(tmp_path, ["true"]))

    def test_missing_image(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """preflight and run name the missing image and how to build it."""
        runtime = make_runtime(image="orchestra-missing:never")
        with pytest.raises(RuntimeUnavailableError, match="'orchestra-missing:never'") as info:
            runtime.preflight("sh")
        assert "orchestra worker-image build --tag orchestra-missing:never" in str(info.value)
        with pytest.raises(RuntimeUnavailableError, match="orchestra-missing:never"):
            runtime.run(make_request(tmp_path, ["true"]))

    def test_preflight_ok(self, docker_client: Any, run_id: str, make_runtime: MakeRuntime) -> None:
        """preflight passes with a reachable engine and the image present."""
        make_runtime().preflight("sh")

    def test_docker_socket_volume_refused(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """A profile mounting the Docker socket is refused before any container exists."""
        runtime = make_runtime(volumes=["/var/run/docker.sock:/var/run/docker.sock"])
        with pytest.raises(SandboxPolicyError, match="Docker socket"):
            runtime.preflight("sh")
        with pytest.raises(SandboxPolicyError, match="owns the host"):
            runtime.run(make_request(tmp_path, ["true"]))
        assert containers_of(docker_client, run_id) == []

    def test_missing_executable(
        self, docker_client: Any, tmp_path: Path, run_id: str, make_runtime: MakeRuntime
    ) -> None:
        """An argv[0] the image lacks is AgentNotInstalledError; the container is removed."""
        with pytest.raises(AgentNotInstalledError, match="'no-such-agent'"):
            make_runtime().run(make_request(tmp_path, ["no-such-agent", "run"]))
        assert containers_of(docker_client, run_id) == []

    def test_runtime_sweep_keeps_own_run(
        self,
        docker_client: Any,
        run_id: str,
        make_runtime: MakeRuntime,
        docker_project: str,
        docker_image: str,
    ) -> None:
        """The container sweep never removes the containers of a run it is told to keep."""

        labels = {"orchestra.project": docker_project, "orchestra.run": run_id}
        labels["orchestra.managed"] = "true"
        own = docker_client.containers.create(docker_image, entrypoint=["true"], labels=labels)
        try:
            assert own.id not in sweep(docker_client, docker_project, {run_id})
        finally:
            own.remove(force=True)

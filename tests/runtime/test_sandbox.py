"""Sandbox policy of the Docker runtime: pure functions, no Docker engine needed."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from orchestra.config.models import DockerConfig, MountConfig
from orchestra.errors import AgentError, ConfigError, SandboxPolicyError
from orchestra.runtime import sandbox
from orchestra.runtime.base import StepRequest
from orchestra.runtime.ownership import STEP_USER, needs_handover, step_user
from orchestra.runtime.sandbox import CONTAINER_OBJECTS_DIR

NO_DOCKER_HOST: dict[str, str] = {}


def make_request(tmp_path: Path, **overrides: Any) -> StepRequest:
    workspace = tmp_path / "ws"
    output = tmp_path / "out"
    workspace.mkdir(exist_ok=True)
    output.mkdir(exist_ok=True)
    fields: dict[str, Any] = {
        "argv": ["agent", "--flag"],
        "workspace": workspace,
        "output_dir": output,
        "timeout": 60,
        "name": "implement",
    }
    fields.update(overrides)
    return StepRequest(**fields)


def kwargs_for(request: StepRequest, cfg: DockerConfig | None = None, **kw: Any) -> dict[str, Any]:
    cfg = cfg or DockerConfig(image="img:1")
    return sandbox.container_kwargs(
        request, cfg, project_id="proj", run_id="run-1", environ=NO_DOCKER_HOST, **kw
    )


def mount_at(kwargs: dict[str, Any], target: str) -> dict[str, Any]:
    (mount,) = [m for m in kwargs["mounts"] if m["Target"] == target]
    return mount


class TestStepUser:
    def test_never_root_by_default(self) -> None:
        """A root orchestrator's steps run as the dedicated user; others as the host user."""
        cfg = DockerConfig(image="img:1")
        assert step_user(cfg, host="0:0") == STEP_USER
        assert step_user(cfg, host="1000:1000") == "1000:1000"
        assert needs_handover(STEP_USER, host="0:0")
        assert not needs_handover("1000:1000", host="1000:1000")

    def test_root_only_when_the_profile_asks(self) -> None:
        """`docker.user: "0:0"` is the one way to run a step as root."""
        assert step_user(DockerConfig(image="i", user="0:0"), host="0:0") == "0:0"
        assert not needs_handover("0:0", host="0:0")

    def test_objects_mounted_read_only(self, tmp_path: Path) -> None:
        """The user's objects folder appears read-only at /orchestra/objects."""
        objects = tmp_path / "objects"
        objects.mkdir()
        request = make_request(tmp_path)
        request = type(request)(**{**request.__dict__, "objects_dir": objects})
        mount = mount_at(kwargs_for(request, DockerConfig(image="i")), CONTAINER_OBJECTS_DIR)
        assert (mount["Source"], mount["ReadOnly"]) == (str(objects), True)


class TestDefaults:
    def test_sandbox_defaults(self, tmp_path: Path) -> None:
        """Every sandbox default is in the create kwargs."""
        cfg = DockerConfig(image="img:1", cpus=1.5, mem_limit="512m", pids_limit=64)
        kwargs = kwargs_for(make_request(tmp_path), cfg)
        assert kwargs["image"] == "img:1"
        host = f"{os.getuid()}:{os.getgid()}"
        assert kwargs["user"] == (STEP_USER if os.getuid() == 0 else host)
        assert kwargs["cap_drop"] == ["ALL"]
        assert kwargs["security_opt"] == ["no-new-privileges"]
        assert kwargs["init"] is True
        assert kwargs["pids_limit"] == 64
        assert kwargs["mem_limit"] == "512m"
        assert kwargs["nano_cpus"] == 1_500_000_000
        assert kwargs["read_only"] is False
        assert "tmpfs" not in kwargs
        # The default network is the step's own behind the egress proxy (the runtime puts its
        # name in place): no host-gateway entry, nothing on it leads to the host.
        assert kwargs["network_mode"] == "egress"
        assert "extra_hosts" not in kwargs
        assert kwargs["working_dir"] == "/workspace"
        assert kwargs["environment"] == {"HOME": "/tmp"}
        assert kwargs["stdin_open"] is False
        assert "ports" not in kwargs

    def test_argv_runs_as_given(self, tmp_path: Path) -> None:
        """argv[0] becomes the entrypoint (the image's own is bypassed), the rest the command."""
        kwargs = kwargs_for(make_request(tmp_path, argv=["opencode", "run", "x"]))
        assert kwargs["entrypoint"] == ["opencode"]
        assert kwargs["command"] == ["run", "x"]

    def test_empty_argv_is_an_agent_error(self, tmp_path: Path) -> None:
        """An empty argv is refused before anything reaches the engine."""
        with pytest.raises(AgentError, match="empty argv"):
            kwargs_for(make_request(tmp_path, argv=[]))

    def test_user_from_config_wins(self, tmp_path: Path) -> None:
        """docker.user replaces the host uid:gid."""
        cfg = DockerConfig(image="img", user="1234:1234")
        assert kwargs_for(make_request(tmp_path), cfg, user="1:1")["user"] == "1234:1234"
        assert kwargs_for(make_request(tmp_path), user="1:1")["user"] == "1:1"

    def test_read_only_rootfs_gets_a_tmp(self, tmp_path: Path) -> None:
        """A read-only root filesystem comes with a writable tmpfs at /tmp (HOME)."""
        kwargs = kwargs_for(make_request(tmp_path), DockerConfig(image="i", read_only_rootfs=True))
        assert kwargs["read_only"] is True
        assert list(kwargs["tmpfs"]) == ["/tmp"]

    @pytest.mark.parametrize("network", ["host", "container:abc"])
    def test_no_host_gateway_when_sharing_a_network_stack(
        self, tmp_path: Path, network: str
    ) -> None:
        """extra_hosts is left out where Docker refuses or does not need it."""
        kwargs = kwargs_for(make_request(tmp_path), DockerConfig(image="i", network=network))
        assert kwargs["network_mode"] == network
        assert "extra_hosts" not in kwargs

    def test_stdin_open_only_with_a_prompt_file(self, tmp_path: Path) -> None:
        """The container keeps stdin open only when there is a prompt to send."""
        prompt = tmp_path / "out" / "prompt.md"
        kwargs = kwargs_for(make_request(tmp_path, stdin_path=prompt))
        assert kwargs["stdin_open"] is True


class TestLabels:
    def test_labels(self, tmp_path: Path) -> None:
        """Request labels are prefixed; project, run and managed cannot be overridden."""
        request = make_request(
            tmp_path, labels={"task": "task-03", "orchestra.run": "fake", "project": "x"}
        )
        assert kwargs_for(request)["labels"] == {
            "orchestra.project": "proj",
            "orchestra.run": "run-1",
            "orchestra.task": "task-03",
            "orchestra.step": "implement",
            "orchestra.managed": "true",
        }

    def test_container_name_is_valid(self, tmp_path: Path) -> None:
        """Container names are built from the step name and are valid Docker names."""
        name = sandbox.container_name(make_request(tmp_path, name="task-03 · Implement!"), "ab12")
        assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", name)
        assert name.startswith("orchestra-task-03") and name.endswith("-ab12")


class TestMounts:
    def test_workspace_and_output(self, tmp_path: Path) -> None:
        """The workspace is at mount.target, the output folder read-write at /orchestra/out."""
        request = make_request(tmp_path)
        kwargs = kwargs_for(request)
        assert mount_at(kwargs, "/workspace") == {
            "Type": "bind",
            "Source": str(request.workspace),
            "Target": "/workspace",
            "ReadOnly": False,
        }
        assert mount_at(kwargs, "/orchestra/out")["ReadOnly"] is False
        assert mount_at(kwargs, "/orchestra/out")["Source"] == str(request.output_dir)

    @pytest.mark.parametrize(
        ("role_read_only", "forced", "expected"),
        [(True, None, True), (False, None, False), (False, True, True), (True, False, False)],
    )
    def test_read_only_follows_role_unless_forced(
        self, tmp_path: Path, role_read_only: bool, forced: bool | None, expected: bool
    ) -> None:
        """The workspace is read-only for read-only roles; mount.read_only overrides."""
        cfg = DockerConfig(image="i", mount=MountConfig(read_only=forced))
        kwargs = kwargs_for(make_request(tmp_path, read_only_workspace=role_read_only), cfg)
        assert mount_at(kwargs, "/workspace")["ReadOnly"] is expected
        assert mount_at(kwargs, "/orchestra/out")["ReadOnly"] is False

    def test_extra_volumes(self, tmp_path: Path) -> None:
        """volumes become bind mounts, ro or rw."""
        cache = tmp_path / "cache"
        cfg = DockerConfig(image="i", volumes=[f"{cache}:/cache:ro", f"{tmp_path}:/data"])
        kwargs = kwargs_for(make_request(tmp_path), cfg)
        assert mount_at(kwargs, "/cache") == {
            "Type": "bind",
            "Source": str(cache),
            "Target": "/cache",
            "ReadOnly": True,
        }
        assert mount_at(kwargs, "/data")["ReadOnly"] is False

    @pytest.mark.parametrize(
        "spec", ["/a", "/a:/b:rx", "named:/data", "/a:relative", "/a:/b:ro:z", ":/b"]
    )
    def test_malformed_volume(self, tmp_path: Path, spec: str) -> None:
        """Malformed or named volumes are config errors naming the entry."""
        with pytest.raises(ConfigError, match=re.escape(repr(spec))):
            kwargs_for(make_request(tmp_path), DockerConfig(image="i", volumes=[spec]))

    def test_duplicate_targets(self, tmp_path: Path) -> None:
        """Two mounts at one container path are refused."""
        cfg = DockerConfig(image="i", volumes=[f"{tmp_path}:/workspace/"])
        with pytest.raises(ConfigError, match="'/workspace'"):
            kwargs_for(make_request(tmp_path), cfg)

    def test_mount_source_must_be_absolute(self, tmp_path: Path) -> None:
        """A relative mount.source is a config error."""
        cfg = DockerConfig(image="i", mount=MountConfig(source="rel/dir"))
        with pytest.raises(ConfigError, match="absolute"):
            kwargs_for(make_request(tmp_path), cfg)


class TestDockerSocket:
    @pytest.mark.parametrize(
        "host",
        [
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/var/run",
            "/run",
            "/var",
            "/",
            "/x/docker.sock",
        ],
    )
    def test_socket_or_its_folders_refused(self, tmp_path: Path, host: str) -> None:
        """The socket, any folder that holds it, any docker.sock: refused, with the reason."""
        cfg = DockerConfig(image="i", volumes=[f"{host}:/mnt"])
        with pytest.raises(SandboxPolicyError, match="owns the host"):
            kwargs_for(make_request(tmp_path), cfg)
        with pytest.raises(SandboxPolicyError):
            sandbox.check_config(cfg, NO_DOCKER_HOST)

    def test_docker_host_socket_refused(self, tmp_path: Path) -> None:
        """A unix socket named by DOCKER_HOST (or base_url) is refused too, also via a symlink."""
        engine = tmp_path / "engine"
        engine.mkdir()
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.bind(str(engine / "engine.sock"))
            (tmp_path / "alias").symlink_to(engine)
            env = {"DOCKER_HOST": f"unix://{engine}/engine.sock"}
            for host in (engine / "engine.sock", engine, tmp_path / "alias"):
                cfg = DockerConfig(image="i", volumes=[f"{host}:/mnt"])
                with pytest.raises(SandboxPolicyError, match=r"engine\.sock"):
                    sandbox.check_config(cfg, env)
            by_url = DockerConfig(
                image="i", base_url=f"unix://{engine}/engine.sock", volumes=[f"{engine}:/mnt"]
            )
            with pytest.raises(SandboxPolicyError):
                sandbox.check_config(by_url, NO_DOCKER_HOST)
        finally:
            sock.close()

    def test_workspace_holding_the_socket_refused(self, tmp_path: Path) -> None:
        """Even the workspace mount may not expose the socket."""
        request = make_request(tmp_path)
        env = {"DOCKER_HOST": f"unix://{request.workspace}/d.sock"}
        with pytest.raises(SandboxPolicyError, match="workspace"):
            sandbox.container_kwargs(
                request, DockerConfig(image="i"), project_id="p", run_id="r", environ=env
            )

    def test_unrelated_mounts_pass(self, tmp_path: Path) -> None:
        """An ordinary folder is fine."""
        sandbox.check_config(
            DockerConfig(image="i", volumes=[f"{tmp_path}:/data:ro"]), NO_DOCKER_HOST
        )


class TestEnv:
    def test_only_request_env_plus_home(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The host environment is not passed; HOME is writable unless the request sets it."""
        monkeypatch.setenv("ORCHESTRA_SECRET_ON_HOST", "x")
        env = kwargs_for(make_request(tmp_path, env={"A": "1"}))["environment"]
        assert env == {"HOME": "/tmp", "A": "1"}
        env = kwargs_for(make_request(tmp_path, env={"HOME": "/home/agent"}))["environment"]
        assert env == {"HOME": "/home/agent"}

    def test_host_path_and_home_dropped(self, tmp_path: Path) -> None:
        """PATH/HOME passed through from the host are dropped; values written for the
        container are kept."""
        host = {"PATH": "/host/bin:/usr/bin", "HOME": "/home/alice"}
        request = make_request(tmp_path, env={**host, "LANG": "C.UTF-8"})
        kwargs = sandbox.container_kwargs(
            request, DockerConfig(image="i"), project_id="p", run_id="r", environ=host
        )
        assert kwargs["environment"] == {"HOME": "/tmp", "LANG": "C.UTF-8"}
        request = make_request(tmp_path, env={"PATH": "/opt/bin:/usr/bin", "HOME": "/srv"})
        kwargs = sandbox.container_kwargs(
            request, DockerConfig(image="i"), project_id="p", run_id="r", environ=host
        )
        assert kwargs["environment"] == {"HOME": "/srv", "PATH": "/opt/bin:/usr/bin"}

    @pytest.mark.parametrize("key", ["", "A=B", "NUL\0"])
    def test_bad_key_named_not_value(self, tmp_path: Path, key: str) -> None:
        """A bad env key is a config error that names the key and never the value."""
        with pytest.raises(ConfigError) as info:
            kwargs_for(make_request(tmp_path, env={key: "s3cret-value"}))
        assert "s3cret-value" not in str(info.value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("http://localhost:8080", "http://hdi:8080"),
            ("https://LOCALHOST/api", "https://hdi/api"),
            ("localhost:5432", "hdi:5432"),
            ("localhost", "hdi"),
            ("127.0.0.1", "hdi"),
            ("postgres://u:p@127.0.0.1:5432/db", "postgres://u:p@hdi:5432/db"),
            ("http://[::1]:3000/x", "http://hdi:3000/x"),
            ("a=http://localhost,b=localhost:1", "a=http://hdi,b=hdi:1"),
            ("mylocalhost:80", "mylocalhost:80"),
            ("localhost.example.com", "localhost.example.com"),
            ("http://127.0.0.1.nip.io", "http://127.0.0.1.nip.io"),
            ("localhost-proxy:80", "localhost-proxy:80"),
            ("10.127.0.0.1", "10.127.0.0.1"),
        ],
    )
    def test_loopback_rewrite(self, value: str, expected: str) -> None:
        """The host loopback becomes the bridge host; look-alikes stay."""
        assert sandbox.rewrite_loopback(value, "hdi") == expected

    def test_loopback_in_env(self, tmp_path: Path) -> None:
        """Env values are rewritten to bridge_host, except NO_PROXY and on network host."""
        env = {"API": "http://localhost:1", "NO_PROXY": "localhost,127.0.0.1"}
        got = kwargs_for(make_request(tmp_path, env=env))["environment"]
        assert got["API"] == "http://host.docker.internal:1"
        assert got["NO_PROXY"] == "localhost,127.0.0.1"
        cfg = DockerConfig(image="i", bridge_host="172.17.0.1")
        assert kwargs_for(make_request(tmp_path, env=env), cfg)["environment"]["API"] == (
            "http://172.17.0.1:1"
        )
        host = DockerConfig(image="i", network="host")
        assert kwargs_for(make_request(tmp_path, env=env), host)["environment"]["API"] == (
            "http://localhost:1"
        )


class TestPaths:
    def test_container_paths(self, tmp_path: Path) -> None:
        """Workspace and output folders map to their container paths."""
        request = make_request(tmp_path)
        paths = sandbox.container_paths(request, DockerConfig(image="i"))
        assert paths[str(request.workspace)] == "/workspace"
        assert paths[str(request.output_dir)] == "/orchestra/out"

    def test_container_paths_follow_symlinks(self, tmp_path: Path) -> None:
        """A workspace given through a symlink maps by both its names."""
        real = tmp_path / "real"
        real.mkdir()
        (tmp_path / "link").symlink_to(real)
        request = make_request(tmp_path, workspace=tmp_path / "link")
        paths = sandbox.container_paths(request, DockerConfig(image="i"))
        assert paths[str(tmp_path / "link")] == paths[str(real.resolve())] == "/workspace"

    def test_container_paths_with_mount_source(self, tmp_path: Path) -> None:
        """With mount.source, a workspace under it maps to its place under the target."""
        request = make_request(tmp_path, workspace=tmp_path / "ws")
        cfg = DockerConfig(image="i", mount=MountConfig(source=str(tmp_path), target="/src"))
        paths = sandbox.container_paths(request, cfg)
        assert paths[str(tmp_path)] == "/src"
        assert paths[str(tmp_path / "ws")] == "/src/ws"
        assert mount_at(kwargs_for(request, cfg), "/src")["Source"] == str(tmp_path)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("/w/ws", "/workspace"),
            ("/w/ws/src/a.py", "/workspace/src/a.py"),
            ("--dir=/w/ws/x", "--dir=/workspace/x"),
            ("PATH=/w/ws/bin:/usr/bin", "PATH=/workspace/bin:/usr/bin"),
            ("file:///w/ws/a", "file:///workspace/a"),
            ("/w/ws/out/report.md", "/orchestra/out/report.md"),
            ("/w/ws2/a", "/w/ws2/a"),
            ("/x/w/ws/a", "/x/w/ws/a"),
            ("/w/ws.bak", "/w/ws.bak"),
            ("see /w/ws and /w/ws/out", "see /workspace and /orchestra/out"),
        ],
    )
    def test_rewrite_paths(self, value: str, expected: str) -> None:
        """Whole path components only; the longer (nested) folder wins."""
        paths = {"/w/ws": "/workspace", "/w/ws/out": "/orchestra/out"}
        assert sandbox.rewrite_paths(value, paths) == expected

    def test_argv_and_env_rewritten(self, tmp_path: Path) -> None:
        """Host paths in argv and env values become container paths."""
        request = make_request(
            tmp_path,
            argv=["agent", f"--prompt={tmp_path / 'out' / 'prompt.md'}", f"{tmp_path / 'ws'}/src"],
            env={"PROJECT": f"{tmp_path / 'ws'}/pkg"},
        )
        kwargs = kwargs_for(request)
        assert kwargs["command"] == ["--prompt=/orchestra/out/prompt.md", "/workspace/src"]
        assert kwargs["environment"]["PROJECT"] == "/workspace/pkg"


class TestEngineAddress:
    def test_precedence(self) -> None:
        """base_url, else DOCKER_HOST, else the local socket."""
        assert sandbox.engine_address(DockerConfig(image="i"), {}) == "unix:///var/run/docker.sock"
        env = {"DOCKER_HOST": "tcp://h:2375"}
        assert sandbox.engine_address(DockerConfig(image="i"), env) == "tcp://h:2375"
        cfg = DockerConfig(image="i", base_url="unix:///x.sock")
        assert sandbox.engine_address(cfg, env) == "unix:///x.sock"


class TestEngineSidePath:
    def test_worker_path_is_mapped_to_the_host_path(self) -> None:
        """A workspace under the mapped prefix is mounted from the host's path."""
        env = {sandbox.HOST_PATH_MAP_ENV: "/project=/home/me/repo"}
        got = sandbox.engine_side_path(Path("/project/.orchestra/worktrees/task-01"), env)
        assert got == "/home/me/repo/.orchestra/worktrees/task-01"

    def test_paths_outside_the_prefix_and_relative_maps_are_unchanged(self) -> None:
        """Only whole path components match, and a relative host side is ignored."""
        assert (
            sandbox.engine_side_path(
                Path("/projects/x"), {sandbox.HOST_PATH_MAP_ENV: "/project=/h"}
            )
            == "/projects/x"
        )
        assert (
            sandbox.engine_side_path(Path("/project/x"), {sandbox.HOST_PATH_MAP_ENV: "/project=.."})
            == "/project/x"
        )
        assert sandbox.engine_side_path(Path("/project/x"), {}) == "/project/x"


class TestHostText:
    def test_container_paths_in_report_text_are_the_hosts(self) -> None:
        """A report written in the Compose worker shows /project paths as the host's."""
        env = {sandbox.HOST_PATH_MAP_ENV: "/project=/home/me/repo"}
        text = (
            "task-01 failed → /project/.orchestra/queue/task-01.md; in `/project`, not /projects/x"
        )
        assert sandbox.host_text(text, env) == (
            "task-01 failed → /home/me/repo/.orchestra/queue/task-01.md; in `/home/me/repo`,"
            " not /projects/x"
        )
        assert sandbox.host_text(text, {}) == text

"""What a step's agent sees, as each runtime answers it (no engine, no process started)."""

from __future__ import annotations

import sys
from pathlib import Path

from orchestra.config.models import DockerConfig, ProcessConfig
from orchestra.runtime import AgentView, ProcessRuntime, build_runtime, view_of


class TestHostView:
    def test_sees_the_host_as_it_is(self, tmp_path: Path) -> None:
        """Host paths and URLs unchanged; PATH/HOME from the host, the interpreter first."""
        view = view_of(ProcessConfig())
        assert isinstance(view, AgentView)
        assert view.paths(tmp_path / "ws", tmp_path / "out") == (
            str(tmp_path / "ws"),
            str(tmp_path / "out"),
        )
        assert view.objects(tmp_path / "objects") == str(tmp_path / "objects")
        assert view.url("http://127.0.0.1:9/v1") == "http://127.0.0.1:9/v1"
        env = view.base_env({"PATH": "/usr/bin", "HOME": "/home/u", "SECRET": "s"})
        assert env["HOME"] == "/home/u"
        assert "SECRET" not in env
        assert env["PATH"].split(":")[:2] == [str(Path(sys.executable).parent), "/usr/bin"]
        assert "NOT a sandbox" in (view.caveat() or "")

    def test_the_runtime_answers_with_its_view(self) -> None:
        """A built process runtime carries the same view and leaves nothing to sweep."""
        runtime = build_runtime(ProcessConfig(), project_id="p", run_id="r", kill_grace=1)
        assert isinstance(runtime, ProcessRuntime)
        assert runtime.view.where() == "process"
        assert runtime.leftover_scope is None
        assert runtime.sweep_leftovers(lambda owner: False) == []


class TestContainerView:
    def test_sees_container_paths_and_no_host_env(self, tmp_path: Path) -> None:
        """The mount target, the fixed output and objects folders; nothing from the host."""
        view = view_of(DockerConfig(image="img", mount={"target": "/src"}))
        assert view.paths(tmp_path / "ws", tmp_path / "out") == ("/src", "/orchestra/out")
        assert view.objects(tmp_path / "objects") == "/orchestra/objects"
        assert view.base_env({"PATH": "/usr/bin", "HOME": "/home/u"}) == {}
        assert view.where() == "docker image img"
        assert view.caveat() is None

    def test_host_urls_by_network(self) -> None:
        """Loopback becomes the bridge name; host network keeps it; no network reaches none."""
        url = "http://localhost:8080/v1"
        assert view_of(DockerConfig(image="i")).url(url) == "http://host.docker.internal:8080/v1"
        assert view_of(DockerConfig(image="i", network="host")).url(url) == url
        assert view_of(DockerConfig(image="i", network="none")).url(url) is None
        assert view_of(DockerConfig(image="i")).url("https://api.example.com/v1") == (
            "https://api.example.com/v1"
        )

    def test_root_in_the_container_is_a_caveat(self) -> None:
        """A profile that asks for root gets doctor's warning."""
        assert "root" in (view_of(DockerConfig(image="i", user="0:0")).caveat() or "")

    def test_the_runtime_answers_with_its_view_without_an_engine(self) -> None:
        """Building the Docker runtime calls no engine; its view and sweep scope are there."""
        runtime = build_runtime(
            DockerConfig(image="img", base_url="tcp://127.0.0.1:9"),
            project_id="p",
            run_id="r",
            kill_grace=1,
        )
        assert runtime.view.paths(Path("/x"), Path("/y")) == ("/workspace", "/orchestra/out")
        assert runtime.leftover_scope == "tcp://127.0.0.1:9"

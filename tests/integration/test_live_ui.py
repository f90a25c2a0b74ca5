"""Live UI: ``python -m flows.run`` on a project's own, real ``prefect server start``.

The projects here ask for a server of their own (``server: {scope: project}``); the user-level
server shared by every project is tested in ``test_user_server.py``. One demo project per module: its first cycle starts the server (it outlives the command), the
second reuses it; the link printed before the first step is the cycle's run in the API, with its
name and tags; ``orchestra server status|stop`` manage it; a stale record is replaced; a
PREFECT_API_URL the user set wins, and one that does not answer is a clear error. Every server a
test starts is stopped by the fixture that made its project.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestra.prefect.server import (
    ServerRecord,
    free_port,
    is_server_process,
    read_record,
    record_path,
    stop_server,
)

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"Watch it live: (http://127\.0\.0\.1:(\d+)/runs/flow-run/([0-9a-f-]{36}))")
STEP_LINE = "▶ "
CYCLE_TIMEOUT = 300


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no Prefect or Orchestra settings from the test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORCHESTRA_"))}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONUNBUFFERED="1", **extra)
    return env


def run(argv: list[str], cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=CYCLE_TIMEOUT,
        check=False,
    )


def flows_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "flows.run", "--project", str(project), *args], **env)


def orchestra(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    return run([str(BIN / "orchestra"), *args], cwd=cwd, **env)


def api_get(record: ServerRecord, path: str) -> Any:
    answer = httpx.get(f"{record.api_url}{path}", timeout=30)
    answer.raise_for_status()
    return answer.json()


def api_post(record: ServerRecord, path: str, body: dict[str, Any]) -> Any:
    answer = httpx.post(f"{record.api_url}{path}", json=body, timeout=30)
    answer.raise_for_status()
    return answer.json()


@dataclass
class Cycle:
    """One ``python -m flows.run`` and what it printed."""

    done: subprocess.CompletedProcess[str]

    @property
    def out(self) -> str:
        return self.done.stdout + self.done.stderr

    def link(self) -> re.Match[str]:
        found = LINK.search(self.done.stdout)
        assert found, self.out[-3000:]
        return found


@dataclass
class Live:
    """The module's demo project and its two cycles (first starts the server, second reuses)."""

    project: Path
    first: Cycle
    record_after_first: ServerRecord
    second: Cycle
    record_after_second: ServerRecord


def own_server(project: Path) -> Path:
    """``project`` asks for a Prefect server of its own (in its git-excluded local overlay)."""
    (project / "orchestra.local.yaml").write_text("server:\n  scope: project\n", encoding="utf-8")
    return project


@pytest.fixture(scope="module")
def stop_after() -> Iterator[Callable[[Path], Path]]:
    """Registers projects whose server (and any recorded pid) is stopped at the end."""
    projects: list[Path] = []
    yield lambda p: projects.append(p) or p
    for project in projects:
        stop_server(project)


@pytest.fixture(scope="module")
def live(
    new_demo: Callable[[Path], Path],
    demo_task: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
    stop_after: Callable[[Path], Path],
) -> Live:
    project = stop_after(own_server(new_demo(tmp_path_factory.mktemp("live") / "demo")))
    first = Cycle(flows_run(project))
    assert first.done.returncode == 0, first.out[-3000:]
    record = read_record(project)
    assert record is not None, first.out[-3000:]
    queue = project / ".orchestra" / "queue"
    (queue / "task-09.md").write_text(demo_task("multiply"), encoding="utf-8")
    second = Cycle(flows_run(project, "--max-tasks", "1"))
    again = read_record(project)
    assert again is not None, second.out[-3000:]
    return Live(project, first, record, second, again)


class TestServerLifetime:
    def test_server_outlives_the_command(self, live: Live) -> None:
        """After the first cycle exits, its server still runs and answers, recorded in .orchestra/."""
        record = live.record_after_second
        assert record_path(live.project) == live.project / ".orchestra" / "server.json"
        assert is_server_process(record.pid)
        assert api_get(record, "/health") is True
        assert record.url == f"http://127.0.0.1:{record.port}"
        assert record.prefect_home == str(live.project / ".orchestra" / "prefect")
        assert record.database == "sqlite"
        assert (live.project / ".orchestra" / "prefect" / "prefect.db").is_file()
        assert "started in the background" in live.first.done.stdout

    def test_second_run_reuses_it(self, live: Live) -> None:
        assert live.second.done.returncode == 0, live.second.out[-3000:]
        assert live.record_after_second == live.record_after_first
        assert "already running" in live.second.done.stdout
        assert live.second.link()[2] == str(live.record_after_first.port)

    def test_status_names_url_pid_and_home(self, live: Live) -> None:
        record = live.record_after_second
        done = orchestra("server", "status", "--project", str(live.project / "calc"))
        assert done.returncode == 0, done.stdout + done.stderr
        assert record.url in done.stdout
        assert f"pid {record.pid}" in done.stdout
        assert record.prefect_home in done.stdout


class TestDeepLink:
    def test_link_printed_before_the_first_step(self, live: Live) -> None:
        for cycle in (live.first, live.second):
            out = cycle.done.stdout
            assert STEP_LINE in out, out[-3000:]
            assert out.index("Watch it live:") < out.index(STEP_LINE), out[:3000]

    def test_link_is_the_cycle_run(self, live: Live) -> None:
        """The printed link's id is the cycle's flow run on that server, named and tagged."""
        record = live.record_after_second
        for cycle in (live.first, live.second):
            url, _, run_id = cycle.link().groups()
            assert url == f"{record.url}/runs/flow-run/{run_id}"
            run = api_get(record, f"/flow_runs/{run_id}")
            flow = api_get(record, f"/flows/{run['flow_id']}")
            assert flow["name"] == "infinite-orchestra"
            assert run["parent_task_run_id"] is None
            assert re.fullmatch(r"demo · \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", run["name"])
            assert "project:demo" in run["tags"]
            assert run["state_type"] == "COMPLETED"
            assert url in cycle.done.stdout.rsplit("Prefect UI:", 1)[1]  # and in the report

    def test_the_ui_page_is_served(self, live: Live) -> None:
        """The link opens the UI (the server answers a browser's request for it with the app)."""
        url = live.first.link()[1]
        browser = {"Accept": "text/html,application/xhtml+xml"}
        answer = httpx.get(url, headers=browser, timeout=30, follow_redirects=True)
        assert answer.status_code == 200
        assert "<html" in answer.text.lower()


class TestNamesAndTags:
    def subflows(self, live: Live) -> list[dict[str, Any]]:
        record = live.record_after_second
        runs = api_post(record, "/flow_runs/filter", {"limit": 50})
        return [r for r in runs if r["parent_task_run_id"] is not None]

    def test_task_runs_tagged_with_project_and_task(self, live: Live) -> None:
        record = live.record_after_second
        tasks = {
            r["name"]: r["tags"]
            for r in self.subflows(live)
            if api_get(record, f"/flows/{r['flow_id']}")["name"] == "roocode-boomerang"
        }
        assert set(tasks) == {"task-01", "task-02", "task-09"}, tasks
        for name, tags in tasks.items():
            assert sorted(tags) == ["project:demo", f"task:{name}"]

    def test_planner_run_named_and_tagged(self, live: Live) -> None:
        record = live.record_after_second
        plans = [
            r
            for r in self.subflows(live)
            if api_get(record, f"/flows/{r['flow_id']}")["name"] == "infinite-orchestra-plan"
        ]
        assert [p["name"] for p in plans] == ["demo · plan"]
        assert plans[0]["tags"] == ["project:demo"]

    def test_filter_by_tag(self, live: Live) -> None:
        """The UI's tag filter (the API's) finds a task's run by its tag."""
        record = live.record_after_second
        body = {"flow_runs": {"tags": {"all_": ["task:task-09"]}}}
        found = api_post(record, "/flow_runs/filter", body)
        assert [r["name"] for r in found] == ["task-09"]


class TestServerCommands:
    def test_stop_stops_it(
        self, new_demo: Callable[[Path], Path], tmp_path: Path, stop_after: Callable[[Path], Path]
    ) -> None:
        project = stop_after(own_server(new_demo(tmp_path / "demo")))
        started = orchestra("server", "start", "--project", str(project))
        assert started.returncode == 0, started.stdout + started.stderr
        record = read_record(project)
        assert record is not None
        assert is_server_process(record.pid)
        stopped = orchestra("server", "stop", "--project", str(project / "tests"))
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert f"pid {record.pid}" in stopped.stdout
        assert not is_server_process(record.pid)
        assert not record_path(project).exists()
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{record.api_url}/health", timeout=5)
        status = orchestra("server", "status", "--project", str(project))
        assert status.returncode == 1
        assert "no Prefect server of its own runs" in status.stdout
        again = orchestra("server", "stop", "--project", str(project))
        assert again.returncode == 0
        assert "nothing to stop" in again.stdout

    def test_stale_record_is_replaced(
        self, new_demo: Callable[[Path], Path], tmp_path: Path, stop_after: Callable[[Path], Path]
    ) -> None:
        """A record naming a live process that is no Prefect server (a reused pid) and a port
        nothing answers on is replaced by a new server; that process is left alone."""
        project = stop_after(own_server(new_demo(tmp_path / "demo")))
        squatter = subprocess.Popen(["sleep", "300"])
        try:
            port = free_port()
            stale = {
                "pid": squatter.pid,
                "port": port,
                "url": f"http://127.0.0.1:{port}",
                "prefect_home": str(project / ".orchestra" / "prefect"),
                "database": "sqlite",
                "log": str(project / ".orchestra" / "server.log"),
                "started_at": "2026-01-01T00:00:00.000Z",
            }
            record_path(project).parent.mkdir(parents=True, exist_ok=True)
            record_path(project).write_text(json.dumps(stale), encoding="utf-8")
            status = orchestra("server", "status", "--project", str(project))
            assert status.returncode == 1
            assert f"names pid {squatter.pid}" in status.stdout
            done = flows_run(project, "--plan-only")
            assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
            record = read_record(project)
            assert record is not None
            assert record.pid != squatter.pid
            assert is_server_process(record.pid)
            assert squatter.poll() is None, "the stale record's pid was killed"
            assert "started in the background" in done.stdout
        finally:
            squatter.kill()
            squatter.wait()

    def test_dead_server_record_is_replaced(
        self, new_demo: Callable[[Path], Path], tmp_path: Path, stop_after: Callable[[Path], Path]
    ) -> None:
        """A server killed behind Orchestra's back (its record stays) is replaced on next use."""
        project = stop_after(own_server(new_demo(tmp_path / "demo")))
        assert orchestra("server", "start", "--project", str(project)).returncode == 0
        first = read_record(project)
        assert first is not None
        os.killpg(first.pid, 9)
        deadline = time.monotonic() + 30
        while is_server_process(first.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert record_path(project).exists()
        again = orchestra("server", "start", "--project", str(project))
        assert again.returncode == 0, again.stdout + again.stderr
        assert "started" in again.stdout
        second = read_record(project)
        assert second is not None
        assert second.pid != first.pid
        assert httpx.get(f"{second.api_url}/health", timeout=10).status_code == 200


class TestUserApi:
    def test_user_api_url_wins(self, live: Live, demo_project: Path) -> None:
        """With PREFECT_API_URL set, the cycle runs there and no server of its own starts."""
        api = live.record_after_second.api_url  # some other running server
        done = flows_run(demo_project, "--plan-only", PREFECT_API_URL=api)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        assert not record_path(demo_project).exists()
        assert f"Prefect API {api} (PREFECT_API_URL)" in done.stdout
        run_id = LINK.search(done.stdout)
        assert run_id, done.stdout
        run = api_get(live.record_after_second, f"/flow_runs/{run_id[3]}")
        assert "project:demo" in run["tags"]

    def test_unreachable_api_is_a_clear_error(self, demo_project: Path) -> None:
        """A PREFECT_API_URL that does not answer stops the command (exit 2) naming it and the fix."""
        api = f"http://127.0.0.1:{free_port()}/api"
        done = flows_run(demo_project, PREFECT_API_URL=api)
        assert done.returncode == 2, done.stdout + done.stderr
        assert api in done.stdout
        assert "unset PREFECT_API_URL" in done.stdout
        assert "make stack-up" in done.stdout
        assert "Traceback" not in done.stdout + done.stderr
        assert not record_path(demo_project).exists()
        assert not list((demo_project / ".orchestra").glob("running/*"))


#: In a fresh process (as flows.run): connect_soon, then whether the server answered yet, wait().
CONNECT_SOON = """
import json, os, sys
from pathlib import Path
from orchestra.prefect.connect import connect_soon
from orchestra.prefect.server import healthy
root = Path(sys.argv[1])
connecting = connect_soon(root, str(root / ".orchestra" / "prefect"))
url = os.environ["PREFECT_API_URL"]
answered_at_once = healthy(url)
api = connecting.wait()
print(json.dumps({"url": url, "answered_at_once": answered_at_once, "thread": connecting.thread
    is not None, "api_url": api.api_url, "started": api.started, "healthy": healthy(url)}))
"""


class TestColdStart:
    def test_url_known_before_the_server_answers(
        self, demo_project: Path, stop_after: Callable[[Path], Path]
    ) -> None:
        """No server running: connect_soon returns before the server answers, with the URL it
        will have already in the environment (flows.run imports Prefect meanwhile); wait() gives
        that server, started and recorded. With the server up, it is found at once."""
        stop_after(own_server(demo_project))
        argv = [sys.executable, "-c", CONNECT_SOON, str(demo_project)]
        cold = run(argv)
        assert cold.returncode == 0, cold.stderr[-3000:]
        first = json.loads(cold.stdout)
        assert first["thread"] and not first["answered_at_once"], first
        assert first["started"] and first["healthy"], first
        assert first["api_url"] == first["url"]
        record = read_record(demo_project)
        assert record is not None and record.api_url == first["url"]

        warm = run(argv)
        assert warm.returncode == 0, warm.stderr[-3000:]
        second = json.loads(warm.stdout)
        assert not second["thread"] and not second["started"], second
        assert second["api_url"] == first["url"]

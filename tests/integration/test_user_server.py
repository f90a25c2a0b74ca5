"""The user-level Prefect server: one per user, shared by every project, stopped when idle.

Real ``python -m flows.run`` cycles of two demo projects at the same time on one real
``prefect server start`` in the session's ``XDG_DATA_HOME`` (tests/conftest.py): one server,
its record in the data folder and none in the projects, runs named and tagged per project, the
rate limit on the server named per project; then the idle watchdog stops it and the next cycle
starts it again; an active schedule keeps it up; a project's own server from before keeps working
until it is stopped, and doctor says how to move.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestra.prefect.idle import busy
from orchestra.prefect.server import (
    SERVER_FILE,
    ServerRecord,
    is_server_process,
    read_record,
    stop_server,
)
from orchestra.prefect.userserver import running_user_server, stop_user_server, user_home

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CYCLE_TIMEOUT = 300
#: Short enough to watch it stop, long enough for a cycle to create its run after connecting.
IDLE_MINUTES = 0.3


def clean_env() -> dict[str, str]:
    """A user's shell: no Prefect or Orchestra settings; the session's data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORCHESTRA_"))}
    return env | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1"}


def start_cycle(project: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.run", "--project", str(project), *args],
        cwd=REPO,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate(timeout=CYCLE_TIMEOUT)
    assert proc.returncode == 0, out[-3000:]
    return out


def local(project: Path, text: str) -> Path:
    """``project``'s git-excluded overlay says ``text``."""
    (project / "orchestra.local.yaml").write_text(text, encoding="utf-8")
    return project


def api_post(record: ServerRecord, path: str, body: dict[str, Any]) -> Any:
    answer = httpx.post(f"{record.api_url}{path}", json=body, timeout=30)
    answer.raise_for_status()
    return answer.json()


@dataclass
class Shared:
    alpha: Path
    beta: Path
    outputs: dict[str, str]
    record: ServerRecord


@pytest.fixture(scope="module")
def shared(new_demo: Callable[[Path], Path], tmp_path_factory: pytest.TempPathFactory) -> Shared:
    """Two projects' cycles started at the same time, no server running before."""
    stop_user_server()
    base = tmp_path_factory.mktemp("shared")
    limits = "limits:\n  agent_starts_per_minute: 600\n"
    alpha = local(new_demo(base / "alpha"), limits)
    beta = local(new_demo(base / "beta"), limits)
    procs = {"alpha": start_cycle(alpha), "beta": start_cycle(beta)}
    outputs = {name: finish(proc) for name, proc in procs.items()}
    record = running_user_server()
    assert record is not None, outputs
    return Shared(alpha, beta, outputs, record)


class TestOneServerForAllProjects:
    def test_both_cycles_used_the_user_level_server(self, shared: Shared) -> None:
        """One server in the data folder, named in both commands' output; none in a project."""
        assert shared.record.prefect_home == str(user_home() / "prefect")
        assert (user_home() / SERVER_FILE).is_file()
        assert (user_home() / "prefect" / "prefect.db").is_file()
        for name, out in shared.outputs.items():
            assert f"Prefect UI {shared.record.url} (the user-level server" in out, out[-3000:]
            assert f"{shared.record.url}/runs/flow-run/" in out, name
        started = [n for n, out in shared.outputs.items() if "started in the background" in out]
        assert len(started) == 1, shared.outputs  # one started it, the other found it
        for project in (shared.alpha, shared.beta):
            assert not (project / ".orchestra" / SERVER_FILE).exists()

    def test_runs_named_and_tagged_per_project(self, shared: Shared) -> None:
        body = {"flow_runs": {"parent_task_run_id": {"is_null_": True}}, "limit": 50}
        runs = api_post(shared.record, "/flow_runs/filter", body)
        for name in ("alpha", "beta"):
            mine = [r for r in runs if f"project:{name}" in r["tags"]]
            assert len(mine) == 1, runs
            assert mine[0]["name"].startswith(f"{name} · ")
            assert mine[0]["state_type"] == "COMPLETED"

    def test_limits_on_the_server_are_named_per_project(self, shared: Shared) -> None:
        """Each project's rate limit is its own on the shared server; no unnamed one."""
        limits = api_post(shared.record, "/v2/concurrency_limits/filter", {"limit": 50})
        names = {limit["name"] for limit in limits}
        assert {"orchestra-agent-starts-alpha", "orchestra-agent-starts-beta"} <= names, names
        assert "orchestra-agent-starts" not in names
        assert "orchestra-agents" not in names  # the bound on agents is in each cycle's process

    def test_status_and_stop_with_a_project(self, shared: Shared) -> None:
        """`--project` of a project without a server of its own points at the shared one, and
        its stop leaves that one running."""
        orchestra = str(BIN / "orchestra")
        status = subprocess.run(
            [orchestra, "server", "status", "--project", str(shared.alpha)],
            env=clean_env(), capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert status.returncode == 0, status.stdout + status.stderr
        assert "its cycles use the user-level Prefect server" in status.stdout
        assert shared.record.url in status.stdout
        stop = subprocess.run(
            [orchestra, "server", "stop", "--project", str(shared.alpha)],
            env=clean_env(), capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert stop.returncode == 0
        assert "nothing to stop" in stop.stdout
        assert running_user_server() == shared.record


class TestIdleStop:
    def test_stops_when_idle_and_the_next_cycle_starts_it(
        self, shared: Shared, demo_task: Callable[[str], str]
    ) -> None:
        stop_user_server()
        local(shared.alpha, f"server:\n  idle_stop_minutes: {IDLE_MINUTES}\n")
        out = finish(start_cycle(shared.alpha, "--plan-only"))
        assert "started in the background" in out, out[-3000:]
        record = running_user_server()
        assert record is not None
        assert record.idle_stop_minutes == IDLE_MINUTES
        assert record.watchdog_pid and is_server_process(record.pid)
        deadline = time.monotonic() + IDLE_MINUTES * 60 + 90
        while is_server_process(record.pid) and time.monotonic() < deadline:
            time.sleep(1)
        assert not is_server_process(record.pid), (user_home() / "idle.log").read_text()
        assert not (user_home() / SERVER_FILE).exists()
        assert "stopped pid" in (user_home() / "idle.log").read_text()

        again = finish(start_cycle(shared.alpha, "--plan-only"))
        assert "started in the background" in again, again[-3000:]
        second = running_user_server()
        assert second is not None and second.pid != record.pid
        stop_user_server()  # the session's next cycles start one with the default idle time


class TestWhatKeepsItUp:
    def test_an_active_schedule_keeps_it_up(self, shared: Shared) -> None:
        """A deployment with an active schedule is work for the server; paused, it is not."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import DeploymentScheduleCreate
        from prefect.client.schemas.schedules import IntervalSchedule
        from prefect.settings import PREFECT_API_URL, temporary_settings

        if running_user_server() is None:  # the idle test stopped it
            orchestra = [str(BIN / "orchestra"), "server", "start"]
            subprocess.run(orchestra, env=clean_env(), check=True, capture_output=True)
        record = running_user_server()
        assert record is not None
        assert busy(record.api_url)[0] is False
        schedule = IntervalSchedule(interval=timedelta(days=365))
        with (
            temporary_settings(updates={PREFECT_API_URL: record.api_url}),
            get_client(sync_client=True) as client,
        ):
            flow_id = client.create_flow_from_name("idle-probe")
            dep = client.create_deployment(
                flow_id=flow_id,
                name="yearly",
                schedules=[DeploymentScheduleCreate(schedule=schedule, active=True)],
            )
            try:
                assert busy(record.api_url)[0] is True
            finally:
                client.delete_deployment(dep)
        assert busy(record.api_url)[0] is False


def orchestra(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "orchestra"), *args],
        env=clean_env() | {"COLUMNS": "400"}, capture_output=True, text=True, check=False,
        timeout=CYCLE_TIMEOUT,
    )  # fmt: skip


class TestMigration:
    def test_a_running_project_server_keeps_working_until_moved(
        self, new_demo: Callable[[Path], Path], tmp_path: Path
    ) -> None:
        """A server of the project's own started earlier (as an older version did) serves its
        cycles while it runs; doctor notes it with the move; once stopped, the next cycle uses
        the user-level server."""
        project = local(new_demo(tmp_path / "gamma"), "server:\n  scope: project\n")
        try:
            assert orchestra("server", "start", "--project", str(project)).returncode == 0
            own = read_record(project)
            assert own is not None
            local(project, "")  # the config no longer asks for it: an upgrade
            out = finish(start_cycle(project, "--plan-only"))
            assert f"Prefect UI {own.url} (the project's server" in out, out[-3000:]
            doctor = orchestra("doctor", "--project", str(project))
            assert doctor.returncode == 0, doctor.stdout + doctor.stderr
            assert "note" in doctor.stdout
            assert f"orchestra server stop --project {project}" in doctor.stdout
            assert orchestra("server", "stop", "--project", str(project)).returncode == 0
            moved = finish(start_cycle(project, "--plan-only"))
            assert "(the user-level server" in moved, moved[-3000:]
            assert read_record(project) is None
        finally:
            stop_server(project)

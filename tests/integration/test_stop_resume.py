"""``orchestra stop`` pauses the active schedules of Orchestra's deployments and records which;
``orchestra resume`` re-activates exactly those (not the ones a user had paused), and says which.

On a real ``prefect server start`` (the project's own, started by ``orchestra server start``), with
deployments and schedules made through the API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from orchestra.prefect.schedules import paused_path
from orchestra.prefect.server import ServerRecord, read_record, stop_server

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

BIN = Path(sys.executable).parent
CYCLE = "infinite-orchestra/infinite-orchestra"
IMPROVE = "infinite-orchestra/self-improve"
PLAN = "infinite-orchestra-plan/infinite-orchestra-plan"


def orchestra(*args: str, api: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORCHESTRA_"))}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", COLUMNS="400")
    if api:
        env["PREFECT_API_URL"] = api
    return subprocess.run(
        [str(BIN / "orchestra"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@dataclass
class Stage:
    """The project, its server, and the ids of the schedules made on it."""

    project: Path
    sub: Path
    server: ServerRecord
    schedules: dict[str, tuple[UUID, UUID]]
    """name → (deployment id, schedule id); names like ``cycle-on``."""

    def client(self) -> Any:
        from prefect.client.orchestration import get_client

        return get_client(sync_client=True)

    def active(self) -> dict[str, bool]:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        found: dict[str, bool] = {}
        api = {PREFECT_API_URL: self.server.api_url}
        with temporary_settings(updates=api), self.client() as client:
            for name, (dep_id, schedule_id) in self.schedules.items():
                schedules = client.read_deployment_schedules(dep_id)
                [schedule] = [s for s in schedules if s.id == schedule_id]
                found[name] = schedule.active
        return found


@pytest.fixture(scope="module")
def stage(new_demo: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    """The demo project's own server with three of Orchestra's deployments:

    cycle-on (active), cycle-off (inactive: the user's choice), improve-on (active),
    plan-off (inactive).
    """
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import IntervalSchedule
    from prefect.settings import PREFECT_API_URL, temporary_settings

    project = new_demo(tmp_path_factory.mktemp("stop") / "demo")
    # A server of its own (the user-level one is shared by the session's other tests).
    (project / "orchestra.local.yaml").write_text("server:\n  scope: project\n", encoding="utf-8")
    sub = project / "calc"
    try:
        started = orchestra("server", "start", "--project", str(project))
        assert started.returncode == 0, started.stdout + started.stderr
        server = read_record(project)
        assert server is not None

        def every(hours: int, active: bool) -> DeploymentScheduleCreate:
            interval = IntervalSchedule(interval=timedelta(hours=hours))
            return DeploymentScheduleCreate(schedule=interval, active=active)

        schedules: dict[str, tuple[UUID, UUID]] = {}
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            from prefect.client.orchestration import get_client

            with get_client(sync_client=True) as client:
                for full, made in (
                    (CYCLE, {"cycle-on": every(1, True), "cycle-off": every(2, False)}),
                    (IMPROVE, {"improve-on": every(3, True)}),
                    (PLAN, {"plan-off": every(4, False)}),
                ):
                    flow, name = full.split("/")
                    flow_id = client.create_flow_from_name(flow)
                    dep_id = client.create_deployment(
                        flow_id=flow_id, name=name, schedules=list(made.values())
                    )
                    by_hours = {
                        int(s.schedule.interval.total_seconds() // 3600): s.id  # type: ignore[union-attr]
                        for s in client.read_deployment_schedules(dep_id)
                    }
                    for label, create in made.items():
                        hours = int(create.schedule.interval.total_seconds() // 3600)  # type: ignore[union-attr]
                        schedules[label] = (dep_id, by_hours[hours])
        yield Stage(project, sub, server, schedules)
    finally:
        stop_server(project)


ALL_PAUSED = {"cycle-on": False, "cycle-off": False, "improve-on": False, "plan-off": False}
AS_BEFORE = {"cycle-on": True, "cycle-off": False, "improve-on": True, "plan-off": False}


def test_stop_then_resume_restores_exactly_what_was_active(stage: Stage) -> None:
    assert stage.active() == AS_BEFORE
    api = stage.server.api_url
    stop = orchestra("stop", "--project", str(stage.sub), api=api)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert f"paused schedules: {CYCLE}, {IMPROVE} (on {api})" in stop.stdout
    assert stage.active() == ALL_PAUSED
    record = json.loads(paused_path(stage.project).read_text(encoding="utf-8"))
    assert record["api_url"] == api
    assert {p["deployment"] for p in record["paused"]} == {CYCLE, IMPROVE}

    again = orchestra("stop", "--project", str(stage.project), api=api)  # a second stop
    assert "paused schedules: none were active" in again.stdout
    assert {
        p["deployment"] for p in json.loads(paused_path(stage.project).read_text())["paused"]
    } == {
        CYCLE,
        IMPROVE,
    }, "a second stop forgot what the first paused"

    resume = orchestra("resume", "--project", str(stage.sub))  # no PREFECT_API_URL: the record's
    assert resume.returncode == 0, resume.stdout + resume.stderr
    assert stage.active() == AS_BEFORE
    assert (
        f"resumed the schedules `orchestra stop` paused: {CYCLE} (1 schedule), {IMPROVE}"
        " (1 schedule)" in resume.stdout
    )
    assert not paused_path(stage.project).exists()
    assert not (stage.project / ".orchestra" / "STOP").exists()

    nothing = orchestra("resume", "--project", str(stage.project))
    assert "no schedules were paused by `orchestra stop`: none resumed" in nothing.stdout
    assert stage.active() == AS_BEFORE


def test_stop_uses_the_projects_own_server(stage: Stage) -> None:
    """Without PREFECT_API_URL, `stop` pauses the schedules on the project's running server."""
    assert stage.active() == AS_BEFORE
    stop = orchestra("stop", "--project", str(stage.project))
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert f"(on {stage.server.api_url})" in stop.stdout
    assert stage.active() == ALL_PAUSED
    resume = orchestra("resume", "--project", str(stage.project))
    assert resume.returncode == 0, resume.stdout + resume.stderr
    assert stage.active() == AS_BEFORE


def test_resume_keeps_the_record_when_the_server_is_gone(
    stage: Stage, tmp_path: Path, new_demo: Any
) -> None:
    """A resume that cannot reach the recorded API says so (exit 1) and keeps the record."""
    project = new_demo(tmp_path / "demo")
    record = paused_path(project)
    record.parent.mkdir(parents=True, exist_ok=True)
    dep_id, schedule_id = stage.schedules["cycle-on"]
    gone = "http://127.0.0.1:9/api"
    record.write_text(
        json.dumps(
            {
                "api_url": gone,
                "paused": [
                    {
                        "deployment": CYCLE,
                        "deployment_id": str(dep_id),
                        "schedule_ids": [str(schedule_id)],
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    done = orchestra("resume", "--project", str(project))
    assert done.returncode == 1, done.stdout + done.stderr
    assert gone in done.stdout
    assert "they stay paused" in done.stdout
    assert record.exists()

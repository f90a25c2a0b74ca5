"""The failure breaker across scheduled cycles, on a real `prefect server` with a process worker.

The shipped 24/7 overlay (examples/24x7.yaml: 2 tasks per cycle, limit 3) once could never trip:
the streak was counted inside one cycle's task list. Here a deployment of the cycle flow with that
overlay runs on an interval schedule; one task fails in every cycle (the demo coder fails). The
streak, kept in .orchestra/breaker.json, reaches 3 in the third cycle, which pauses the schedule.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ops24_support import REPO, front_matter, kill_group, queue_tasks, task_files
from test_deployments import BIN, Server, server  # noqa: F401  (the module's server fixture)

POOL = "orch11-breaker"
INTERVAL_SECONDS = 5
#: Cycles (each a fresh Python process under the worker) on a loaded machine.
TIMEOUT_SECONDS = 600


@dataclass
class Scheduled:
    """What the server and the project showed once the schedule was paused (or time ran out)."""

    project: Path
    runs: list[dict[str, Any]]
    active_after: list[bool]
    worker_log: str

    def finished(self) -> list[dict[str, Any]]:
        """The runs that ran a cycle (not Skipped by the lock), oldest first."""
        done = [r for r in self.runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")]
        done = [r for r in done if r["state_name"] != "Skipped"]
        return sorted(done, key=lambda r: r["start_time"] or "")


def _deployment(api: Server, project: Path) -> str:
    flow = api.post("/flows/", {"name": "infinite-orchestra"})
    body = {
        "name": "orch11-breaker",
        "flow_id": flow["id"],
        "entrypoint": "flows/cycle.py:infinite_orchestra",
        "work_pool_name": POOL,
        "path": str(REPO),
        "pull_steps": [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
        ],
        "parameters": {
            "project": str(project),
            "config_files": [str(REPO / "examples" / "24x7.yaml")],
            "scheduled": True,
        },
        "schedules": [{"schedule": {"interval": INTERVAL_SECONDS}, "active": True}],
        "concurrency_limit": 1,
    }
    return str(api.post("/deployments/", body)["id"])


@pytest.fixture(scope="module")
def scheduled(
    server: Server,  # noqa: F811
    new_demo: Callable[[Path], Path],
    demo_task: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scheduled]:
    base = tmp_path_factory.mktemp("breaker")
    project = new_demo(base / "demo")
    queue_tasks(project, demo_task, "multiply")
    server.cli("prefect", "work-pool", "create", POOL, "--type", "process")
    dep_id = _deployment(server, project)
    env = {
        **server.env,
        "XDG_CONFIG_HOME": str(base / "xdg"),
        "DEMO_AGENT_FAIL_ROLE": "coder",
        "ORCHESTRA_WORKFLOWS__TRIGGERS__INFINITE_ORCHESTRA__IDLE_MINUTES": "0",
    }
    log = base / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--limit", "1"],
            cwd=base,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def active() -> list[bool]:
        return [s["active"] for s in server.get(f"/deployments/{dep_id}/schedules")]

    def runs() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = server.post(
            "/flow_runs/filter", {"deployments": {"id": {"any_": [dep_id]}}}
        )
        return found

    try:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while time.monotonic() < deadline and any(active()):
            time.sleep(2)
        # let the run that paused the schedule reach its final state
        while time.monotonic() < deadline and any(
            r["state_type"] in ("RUNNING", "PENDING") for r in runs()
        ):
            time.sleep(2)
        yield Scheduled(project, runs(), active(), log.read_text(errors="replace"))
    finally:
        kill_group(worker.pid)
        worker.wait()


@pytest.mark.prefect
@pytest.mark.slow
class TestBreakerAcrossCycles:
    def test_schedule_paused(self, scheduled: Scheduled) -> None:
        """The 24/7 overlay's breaker trips: the deployment's schedule ends up inactive."""
        assert scheduled.active_after == [False], scheduled.worker_log[-3000:]

    def test_tripped_in_the_third_cycle(self, scheduled: Scheduled) -> None:
        """Three cycles ran (one failed task each); the third one paused the schedule, saying why."""
        finished = scheduled.finished()
        assert len(finished) == 3, [(r["state_name"], r["state"]["message"]) for r in finished]
        message = finished[-1]["state"]["message"]
        assert "3 consecutive failures since" in message
        assert "(limits.max_consecutive_failures 3)" in message
        assert "1 schedule(s) of this deployment paused" in message
        for run in finished[:2]:
            assert "consecutive failures" not in (run["state"]["message"] or "")

    def test_streak_reset_after_the_trip(self, scheduled: Scheduled) -> None:
        """Having paused the schedule, the streak starts from zero (and the trip is counted)."""
        data = json.loads((scheduled.project / ".orchestra" / "breaker.json").read_text())
        assert data["count"] == 0
        assert data["trips"] == 1

    def test_task_failures_cost_attempts(self, scheduled: Scheduled) -> None:
        """The task failed three times on its own: it is in failed/ after its three attempts."""
        files = task_files(scheduled.project)
        assert files["failed"] == ["task-01.md"], files
        assert (
            front_matter(scheduled.project / ".orchestra" / "failed" / "task-01.md")["attempts"]
            == 3
        )

"""Cancelling an ad-hoc cycle's flow run stops the running step and removes its container."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests_support_demo import setup_demo_with_docker

pytestmark = [pytest.mark.docker, pytest.mark.prefect, pytest.mark.slow]

DEMO_IMAGE = "orchestra-base:bookworm"


def _containers(project_id: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=orchestra.project={project_id}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def _wait(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


class TestCancellation:
    def test_cancelling_the_cycle_stops_and_removes_the_step_container(
        self,
        tmp_path: Path,
        docker_client: Any,
        prefect_api: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Set the cycle's run to Cancelling: the step's container is gone within seconds."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            FlowFilter,
            FlowFilterName,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.states import Cancelling

        from flows.cycle import infinite_orchestra
        from orchestra.project import open_project

        project = setup_demo_with_docker(tmp_path / "demo", DEMO_IMAGE, docker_client)
        project_id = open_project(project).project_id
        monkeypatch.setenv("DEMO_AGENT_SLEEP", "120")
        result: dict[str, Any] = {}
        started = time.monotonic()
        worker = threading.Thread(
            target=lambda: result.update(
                state=infinite_orchestra(project=str(project), return_state=True)
            )
        )
        worker.start()
        try:
            assert _wait(lambda: _containers(project_id), 90), "no step container started"
            with get_client(sync_client=True) as client:
                runs = client.read_flow_runs(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=["infinite-orchestra"])),
                    flow_run_filter=FlowRunFilter(
                        state=FlowRunFilterState(
                            type=FlowRunFilterStateType(any_=[StateType.RUNNING])
                        )
                    ),
                )
                cycle = [r for r in runs if r.parameters.get("project") == str(project)]
                assert len(cycle) == 1
                client.set_flow_run_state(cycle[0].id, Cancelling(), force=True)
            assert _wait(lambda: not _containers(project_id), 30), "container still running"
        finally:
            worker.join(timeout=120)
        assert time.monotonic() - started < 110  # well before the agent's 120 s sleep
        assert not worker.is_alive()
        running = list((project / ".orchestra" / "running").glob("task-*.md"))
        assert running == []  # nothing left claimed: the step was stopped, not abandoned

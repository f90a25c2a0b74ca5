"""A spending cap pauses the deployment's schedules until the day rolls over, on a real Prefect
API: the active schedules go inactive, one run of the deployment is scheduled for the next day's
start, and once that moment passed the cap's schedules come back, except one the operator paused
meanwhile (`orchestra stop`'s record)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from orchestra.prefect.governor import CAP_PAUSED_FILE, pause_for_cap, resume_after_cap
from orchestra.prefect.schedules import Paused, record_paused

pytestmark = [pytest.mark.prefect]


def _deployment(name: str) -> tuple[UUID, list[UUID]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import IntervalSchedule

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("infinite-orchestra")
        made = [
            DeploymentScheduleCreate(
                schedule=IntervalSchedule(interval=timedelta(hours=h)), active=True
            )
            for h in (1, 2)
        ]
        dep_id = client.create_deployment(flow_id=flow_id, name=name, schedules=made)
        return dep_id, [s.id for s in client.read_deployment_schedules(dep_id)]


def _active(dep_id: UUID) -> dict[UUID, bool]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {s.id: s.active for s in client.read_deployment_schedules(dep_id)}


def test_a_cap_pauses_until_the_day_rolls_over_and_resumes_what_it_paused(
    tmp_path: Path, prefect_api: str
) -> None:
    from prefect.client.orchestration import get_client

    dep_id, (one, two) = _deployment(f"cap-{tmp_path.name}")
    resume_at = datetime(2030, 1, 2, 23, 0, tzinfo=UTC)
    said = pause_for_cap(tmp_path, str(dep_id), "spending cap: $20 today", resume_at)
    assert "2 schedule(s) paused until 2030-01-02 23:00 UTC" in said, said
    assert _active(dep_id) == {one: False, two: False}
    record = json.loads((tmp_path / CAP_PAUSED_FILE).read_text())
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(record["resume_run"]))
    assert run.deployment_id == dep_id
    assert run.state is not None and run.state.is_scheduled()
    assert run.expected_start_time == resume_at

    # Still the capped day: nothing comes back.
    assert resume_after_cap(tmp_path, now=resume_at - timedelta(minutes=1)) == ""
    assert _active(dep_id) == {one: False, two: False}

    # The operator paused one of them meanwhile (`orchestra stop`): it stays paused.
    record_paused(tmp_path, prefect_api, [Paused("infinite-orchestra/x", str(dep_id), [str(two)])])
    said = resume_after_cap(tmp_path, now=resume_at + timedelta(seconds=1))
    assert said.startswith("resumed 1 schedule(s)"), said
    assert _active(dep_id) == {one: True, two: False}
    assert not (tmp_path / CAP_PAUSED_FILE).exists()

"""The cycle run's own heartbeat: the same Prefect event, from a thread that stops at once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.worker import EventsWorker
from prefect.runtime import flow_run
from prefect.settings import get_current_settings

from orchestra.prefect.heartbeat import THREAD_NAME, cycle_heartbeat, engine_heartbeat_off

pytestmark = pytest.mark.usefixtures("prefect_api")

seen: dict[str, Any] = {}


@flow(name="heartbeat-probe")
def probe() -> str:
    with cycle_heartbeat():
        seen["engine_heartbeat"] = get_current_settings().flows.heartbeat_frequency
        seen["ours_alive"] = any(t.name == THREAD_NAME for t in threading.enumerate())
    seen["ours_after_block"] = any(t.name == THREAD_NAME for t in threading.enumerate())
    return str(flow_run.get_id())


def _heartbeats(run_id: str) -> list[Any]:
    EventsWorker.drain_all()
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_events(
                EventFilter(
                    event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
                    resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}"]),
                ),
                limit=10,
            )
            if page.events or time.monotonic() > deadline:
                return list(page.events)
            time.sleep(0.5)


def test_cycle_sends_its_own_heartbeat_and_stops_it_with_the_block() -> None:
    """Started as flows.run starts a cycle: Prefect's heartbeat thread is off, ours sends the
    run's heartbeat event (flow related) and is gone when the body's block ends."""
    seen.clear()
    with engine_heartbeat_off():
        run_id = probe()
    assert seen == {"engine_heartbeat": None, "ours_alive": True, "ours_after_block": False}
    events = _heartbeats(run_id)
    assert events, "no prefect.flow-run.heartbeat event for the cycle run"
    roles = {r.role for r in events[0].related}
    assert "flow" in roles
    assert get_current_settings().flows.heartbeat_frequency is not None  # restored after


def test_a_run_started_otherwise_keeps_prefects_heartbeat() -> None:
    """A deployment's worker starts the flow without engine_heartbeat_off: Prefect's own thread
    beats (its setting is on) and ours does not start, so the run never beats twice."""
    seen.clear()
    probe()
    assert seen["engine_heartbeat"] is not None
    assert seen["ours_alive"] is False


def test_heartbeats_switched_off_by_the_user_stay_off() -> None:
    """PREFECT_FLOWS_HEARTBEAT_FREQUENCY unset by the user: neither thread beats."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    seen.clear()
    with (
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        engine_heartbeat_off(),
    ):
        probe()
    assert seen["engine_heartbeat"] is None
    assert seen["ours_alive"] is False

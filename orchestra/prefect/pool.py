"""Tasks on a Prefect work pool (`dispatch: pool`): the deployment, a run of it, and its end.

- :func:`ensure_pool_deployment` creates, on first use, the work pool and the deployment
  ``roocode-boomerang/roocode-boomerang-pool`` (what prefect.yaml declares too): a module
  entrypoint, so any host with Orchestra installed runs it with no code download and no
  working directory of ours; the flow-run heartbeat every 30 s, which is how a dead worker
  is seen.
- :func:`start_on_pool` creates one run of it with ``run_deployment(timeout=0)``; called inside a
  task run, Prefect links it to the cycle as a subflow.
- :func:`wait_for_run` waits for that run to end. A run whose heartbeats stop (its worker died:
  power, OOM, ``docker kill``) is marked Crashed after ``lost_after`` seconds of silence; one no
  worker starts, or that outlives ``limits.task_wall_clock``, is ended too. Either way the cycle
  gets an infrastructure failure to settle (the task goes back without an attempt).
- The worker's outcome comes back as a table artifact of the child run (a persisted result would
  live in the worker's own storage, out of the cycle's reach).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from loguru import logger

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

DEPLOYMENT_NAME = "roocode-boomerang-pool"
FLOW_NAME = "roocode-boomerang"
FULL_NAME = f"{FLOW_NAME}/{DEPLOYMENT_NAME}"
ENTRYPOINT = "flows.boomerang.roocode_boomerang"
HEARTBEAT_SECONDS = 30
"""Prefect's minimum flow-run heartbeat interval."""
LOST_AFTER = 2.5 * HEARTBEAT_SECONDS
"""Silence after which a running task's worker is taken for dead."""
OUTCOME_KEY = "orchestra-pool-outcome"
JOB_ENV = {
    "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}


def ensure_pool_deployment(pool: str) -> str:
    """Create the work pool ``pool`` (process) and the task deployment on it if missing."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):  # another cycle made it meanwhile
                client.create_work_pool(
                    WorkPoolCreate(
                        name=pool,
                        type="process",
                        description="Orchestra tasks on any host (dispatch: pool).",
                        base_job_template=ProcessWorker.get_default_base_job_template(),
                    )
                )
        flow_id = client.create_flow_from_name(FLOW_NAME)
        client.create_deployment(
            flow_id=flow_id,
            name=DEPLOYMENT_NAME,
            entrypoint=ENTRYPOINT,
            work_pool_name=pool,
            description="One task of a `dispatch: pool` cycle, on any worker of the pool.",
            job_variables={"env": JOB_ENV, "stream_output": True},
            enforce_parameter_schema=False,
        )
    return FULL_NAME


def start_on_pool(parameters: dict[str, Any], run_name: str) -> UUID:
    """Create one run of the task deployment; linked as a subflow when called in a task run."""
    from prefect.deployments import run_deployment

    run = run_deployment(FULL_NAME, parameters=parameters, flow_run_name=run_name, timeout=0)
    return cast("FlowRun", run).id


@dataclass(frozen=True)
class PoolEnd:
    """How a pool run ended, as the cycle settles it."""

    state: str
    """The run's final state name (Completed, Failed, Crashed, Cancelled, ...)."""
    message: str
    outcome: dict[str, Any] | None
    """The worker's outcome (None when the run ended before writing one)."""
    lost: str = ""
    """Why the cycle gave the run up (its worker went silent, nobody started it, too long)."""
    stopped: str = ""
    """Why the cycle cancelled the run (the kill switch): the operator's stop, not the task's."""


def wait_for_run(
    run_id: UUID,
    *,
    wall_clock: float,
    stop: Callable[[], str] = lambda: "",
    lost_after: float = LOST_AFTER,
    poll: float = 2.0,
) -> PoolEnd:
    """Wait for the run to end; give it up (Crashed/Cancelled) when its worker is gone.

    ``stop`` (the cycle's kill switch) giving a reason cancels the run: the worker stops its
    process, and the steps, which poll their run's state, stop too.
    """
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    created = time.monotonic()
    started: float | None = None
    stopped = ""
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            state = run.state
            if state is not None and state.is_final():
                name, message = state.name or str(state.type), state.message or ""
                return PoolEnd(name, message, read_outcome(client, run_id), stopped=stopped)
            if not stopped and (stopped := stop()):
                client.set_flow_run_state(run_id, Cancelling(message=stopped), force=True)
            now = time.monotonic()
            if state is not None and state.is_running():
                started = started or now
                silent = _silence(client, run_id, now - started)
                if silent >= lost_after:
                    why = f"its worker went silent ({silent:.0f} s without a flow-run heartbeat)"
                    return _give_up(client, run_id, why, crashed=True, stopped=stopped)
                if now - started > wall_clock + lost_after:
                    why = f"still running after limits.task_wall_clock ({wall_clock:.0f} s)"
                    return _give_up(client, run_id, why, crashed=True, stopped=stopped)
            elif now - created > wall_clock:
                why = f"no worker of the pool started it within {wall_clock:.0f} s"
                return _give_up(client, run_id, why, crashed=False, stopped=stopped)
            time.sleep(poll)


def _silence(client: Any, run_id: UUID, running_for: float) -> float:
    """Seconds since the run's last heartbeat (or since it started running, if none yet)."""
    if running_for < LOST_AFTER / 2:
        return running_for  # too early to ask: saves an events query per poll
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    page = client.read_events(
        EventFilter(
            event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}"]),
        ),
        limit=1,
    )
    if not page.events:
        return running_for
    last: datetime = page.events[0].occurred
    return min(running_for, float((datetime.now(UTC) - last).total_seconds()))


def _give_up(client: Any, run_id: UUID, why: str, *, crashed: bool, stopped: str) -> PoolEnd:
    from prefect.client.schemas.objects import State
    from prefect.states import Cancelled, Crashed

    state: State[Any] = Crashed(message=f"orchestra: {why}") if crashed else Cancelled(message=why)
    try:
        client.set_flow_run_state(run_id, state, force=True)
    except Exception as exc:  # the API is what we report on; the task is settled anyway
        logger.warning("could not mark pool run {} {}: {}", run_id, state.name, exc)
    return PoolEnd(state.name or "Crashed", why, None, lost=why, stopped=stopped)


def publish_outcome(outcome: dict[str, Any]) -> None:
    """Attach the worker's outcome to the current run, for the cycle to read back."""
    from prefect.artifacts import create_table_artifact

    create_table_artifact(table=[outcome], key=OUTCOME_KEY, description="Orchestra task outcome")


def read_outcome(client: Any, run_id: UUID) -> dict[str, Any] | None:
    """The outcome a pool run published; None when it wrote none (it died first)."""
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
    )

    found = client.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[OUTCOME_KEY])),
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
    )
    for artifact in found:
        data = artifact.data
        rows = json.loads(data) if isinstance(data, str) else data
        if isinstance(rows, list) and rows and isinstance(rows[0], dict):
            return dict(rows[0])
    return None

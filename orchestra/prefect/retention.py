"""Keep Prefect's database bounded: finished flow runs older than ``limits.keep_days`` are deleted
through the API, their artifacts first (artifacts outlive their run, and every task has its own
artifact key). The server removes the rest: task runs and states by cascade, the run's logs by its
own follow-up job (``DELETE /flow_runs/{id}`` queues ``delete_flow_run_logs``). Events have the
server's own retention (``PREFECT_SERVER_EVENTS_RETENTION_PERIOD``).
"""

from __future__ import annotations

from datetime import timedelta

from loguru import logger

from orchestra.clock import utc_now

#: Orchestra's flows: only their runs are pruned (a Prefect server may hold other people's).
ORCHESTRA_FLOWS = ("infinite-orchestra", "infinite-orchestra-plan", "roocode-boomerang")

#: Flow runs deleted per call at most: a first prune of a long history is spread over cycles.
MAX_DELETE_PER_CALL = 200


def prune_prefect_runs(
    keep_days: float | None,
    *,
    limit: int = MAX_DELETE_PER_CALL,
    flow_names: tuple[str, ...] = ORCHESTRA_FLOWS,
) -> int:
    """Delete finished runs of ``flow_names`` that started over ``keep_days`` ago; return how many.

    Best-effort: an unreachable API is a warning, never a failed cycle. ``None`` keeps all.
    """
    if keep_days is None:
        return 0
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import TERMINAL_STATES
    from prefect.client.schemas.sorting import FlowRunSort

    cutoff = utc_now() - timedelta(days=keep_days)
    old = FlowRunFilter(
        start_time=FlowRunFilterStartTime(before_=cutoff),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(TERMINAL_STATES))),
    )
    deleted = 0
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=list(flow_names))),
                flow_run_filter=old,
                sort=FlowRunSort.START_TIME_ASC,
                limit=limit,
            )
            for run in runs:
                try:
                    ours = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
                    for artifact in client.read_artifacts(artifact_filter=ours):
                        client.delete_artifact(artifact.id)
                    client.delete_flow_run(run.id)
                except Exception as exc:  # gone meanwhile (another pruner), or refused
                    logger.debug("could not delete flow run {}: {}", run.id, exc)
                    continue
                deleted += 1
    except Exception as exc:
        logger.warning("pruning Prefect flow runs older than {} days failed: {}", keep_days, exc)
    if deleted:
        logger.info("deleted {} Prefect flow run(s) older than {} days", deleted, keep_days)
    return deleted

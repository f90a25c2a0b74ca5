"""Whether a flow run was cancelled in Prefect: an ad-hoc run never gets Prefect's signal, so steps poll this."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from orchestra.policy.stopwatch import CancelCheck


def is_cancelling(flow_run_id: str) -> bool:
    """Whether the flow run is Cancelling or Cancelled (False when the API cannot tell)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(flow_run_id))
    except Exception:
        return False
    state = run.state
    return state is not None and state.type in {StateType.CANCELLING, StateType.CANCELLED}


def cancel_check(flow_run_ids: Sequence[str | None]) -> CancelCheck:
    """A check for :class:`~orchestra.policy.stopwatch.StopWatcher`: any of these runs (a step's
    own run and its root, the cycle) cancelled."""
    ids = list(dict.fromkeys(r for r in flow_run_ids if r))

    def cancelled() -> bool:
        return any(is_cancelling(run_id) for run_id in ids)

    return cancelled

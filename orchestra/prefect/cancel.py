"""Whether a flow run was cancelled in Prefect: an ad-hoc run never gets Prefect's signal, so steps poll this."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from uuid import UUID

from orchestra.policy.should_stop import CancelCheck


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


def cancel_check(flow_run_ids: Sequence[str | None], *, reuse_for: float = 0.0) -> CancelCheck:
    """A check for :class:`~orchestra.policy.should_stop.ShouldStop`: any of these runs (a step's
    own run and its root, the cycle) cancelled. A "no" is reused for ``reuse_for`` seconds
    (callers that ask several times in a row, like the cycle between two tasks, ask once)."""
    ids = list(dict.fromkeys(r for r in flow_run_ids if r))
    last_no = -math.inf

    def cancelled() -> bool:
        nonlocal last_no
        if time.monotonic() - last_no < reuse_for:
            return False
        if any(is_cancelling(run_id) for run_id in ids):
            return True
        last_no = time.monotonic()
        return False

    return cancelled

"""Whether a flow run was cancelled in Prefect: an ad-hoc run never gets Prefect's signal, so steps poll this."""

from __future__ import annotations

from uuid import UUID


def is_cancelling(flow_run_id: str) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(flow_run_id))
    except Exception:
        return False
    state = run.state
    return state is not None and state.type in {StateType.CANCELLING, StateType.CANCELLED}

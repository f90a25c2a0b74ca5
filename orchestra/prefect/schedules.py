"""Pausing Orchestra's Prefect schedules: after too many failures, and from `orchestra stop`."""

from __future__ import annotations

from uuid import UUID

from loguru import logger

#: Deployments declared in prefect.yaml (flow name / deployment name).
DEPLOYMENTS: tuple[str, ...] = (
    "infinite-orchestra/infinite-orchestra",
    "infinite-orchestra-plan/infinite-orchestra-plan",
    "roocode-boomerang/roocode-boomerang",
    "infinite-orchestra/self-improve",
    "roocode-boomerang/roocode-boomerang-pool",
)


def pause_deployment_schedules(deployment_id: UUID | str) -> int:
    """Set every schedule of one deployment inactive; return how many were active."""
    from prefect.client.orchestration import get_client

    dep_id = deployment_id if isinstance(deployment_id, UUID) else UUID(deployment_id)
    paused = 0
    with get_client(sync_client=True) as client:
        for schedule in client.read_deployment_schedules(dep_id):
            if schedule.active:
                client.update_deployment_schedule(dep_id, schedule.id, active=False)
                paused += 1
    return paused


def pause_all(names: tuple[str, ...] = DEPLOYMENTS) -> list[str]:
    """Pause the schedules of Orchestra's deployments that exist on the current API."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    done: list[str] = []
    with get_client(sync_client=True) as client:
        for name in names:
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            if pause_deployment_schedules(deployment.id):
                done.append(name)
    logger.info("paused schedules of {}", ", ".join(done) or "no deployment")
    return done

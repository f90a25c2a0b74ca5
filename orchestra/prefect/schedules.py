"""Pausing Orchestra's Prefect schedules: after too many failures, and from `orchestra stop`;
and resuming exactly the ones `orchestra stop` paused (recorded in ``.orchestra/paused.json``)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from loguru import logger

PAUSED_FILE = "paused.json"

#: Deployments declared in prefect.yaml (flow name / deployment name).
DEPLOYMENTS: tuple[str, ...] = (
    "infinite-orchestra/infinite-orchestra",
    "infinite-orchestra-plan/infinite-orchestra-plan",
    "roocode-boomerang/roocode-boomerang",
    "infinite-orchestra/self-improve",
    "roocode-boomerang/roocode-boomerang-pool",
)


@dataclass
class Paused:
    """Schedules of one deployment that `orchestra stop` set inactive."""

    deployment: str
    deployment_id: str
    schedule_ids: list[str] = field(default_factory=list)


def _pause(deployment_id: UUID) -> list[str]:
    from prefect.client.orchestration import get_client

    paused: list[str] = []
    with get_client(sync_client=True) as client:
        for schedule in client.read_deployment_schedules(deployment_id):
            if schedule.active:
                client.update_deployment_schedule(deployment_id, schedule.id, active=False)
                paused.append(str(schedule.id))
    return paused


def pause_deployment_schedules(deployment_id: UUID | str) -> int:
    """Set every schedule of one deployment inactive; return how many were active."""
    dep_id = deployment_id if isinstance(deployment_id, UUID) else UUID(deployment_id)
    return len(_pause(dep_id))


@contextlib.contextmanager
def _api(api_url: str | None) -> Iterator[None]:
    """Prefect's client pointed at ``api_url`` (None: whatever Prefect is configured with)."""
    if api_url is None:
        yield
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        yield


def pause_all(names: tuple[str, ...] = DEPLOYMENTS, api_url: str | None = None) -> list[Paused]:
    """Pause the active schedules of Orchestra's deployments that exist on the API."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    done: list[Paused] = []
    with _api(api_url), get_client(sync_client=True) as client:
        for name in names:
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            if ids := _pause(deployment.id):
                done.append(Paused(name, str(deployment.id), ids))
    logger.info("paused schedules of {}", ", ".join(p.deployment for p in done) or "none")
    return done


def resume_paused(paused: list[Paused], api_url: str | None = None) -> list[Paused]:
    """Set exactly the schedules in ``paused`` active again; return those that still exist."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    done: list[Paused] = []
    with _api(api_url), get_client(sync_client=True) as client:
        for item in paused:
            dep_id = UUID(item.deployment_id)
            try:
                existing = {str(s.id) for s in client.read_deployment_schedules(dep_id)}
            except ObjectNotFound:
                continue
            ids = [i for i in item.schedule_ids if i in existing]
            for schedule_id in ids:
                client.update_deployment_schedule(dep_id, UUID(schedule_id), active=True)
            if ids:
                done.append(Paused(item.deployment, item.deployment_id, ids))
    return done


# --- the record of what `orchestra stop` paused --------------------------------------------------


def paused_path(root: Path) -> Path:
    """``<project>/.orchestra/paused.json``."""
    return root / ".orchestra" / PAUSED_FILE


def read_paused(root: Path) -> tuple[str | None, list[Paused]]:
    """The API URL and the schedules `orchestra stop` paused (none: no record)."""
    try:
        data: dict[str, Any] = json.loads(paused_path(root).read_text(encoding="utf-8"))
        items = [Paused(**item) for item in data.get("paused", [])]
        return data.get("api_url"), items
    except (OSError, ValueError, TypeError):
        return None, []


def record_paused(root: Path, api_url: str, paused: list[Paused]) -> list[Paused]:
    """Add ``paused`` to the record (a second stop pauses nothing new but forgets nothing)."""
    recorded_url, items = read_paused(root)
    if recorded_url not in (None, api_url):
        items = []  # another server: its schedules are not this one's
    by_dep = {i.deployment_id: i for i in items}
    for new in paused:
        old = by_dep.setdefault(new.deployment_id, Paused(new.deployment, new.deployment_id))
        old.schedule_ids = list(dict.fromkeys([*old.schedule_ids, *new.schedule_ids]))
    merged = list(by_dep.values())
    path = paused_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"api_url": api_url, "paused": [asdict(i) for i in merged]}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return merged


def describe(paused: list[Paused]) -> str:
    """``a/b (1 schedule), c/d (2 schedules)``, or ``none``."""
    parts = [
        f"{p.deployment} ({len(p.schedule_ids)} schedule{'s' if len(p.schedule_ids) != 1 else ''})"
        for p in paused
    ]
    return ", ".join(parts) or "none"

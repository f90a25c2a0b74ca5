"""The spending governor on Prefect: the usage artifacts (one per cycle, and the running "today"
one), and the schedules paused at a daily cap and resumed when the day rolls over.

At a cap the cycle pauses the active schedules of its deployment, records them in
``.orchestra/cap-paused.json`` and creates one flow run of the deployment scheduled for the
start of the next day (limits.time_zone). Every cycle, that one included, first resumes the
recorded schedules once that moment has passed, except those the operator paused meanwhile
(`orchestra stop`, ``.orchestra/paused.json``): theirs stay paused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from loguru import logger

from orchestra.engine.ledger import UsageRow
from orchestra.engine.spending import spend_of
from orchestra.engine.usage import markdown
from orchestra.paths import host_text
from orchestra.policy.governor import Caps
from orchestra.prefect.artifacts import artifact_key
from orchestra.prefect.schedules import Paused, _pause, read_paused, resume_paused

CAP_PAUSED_FILE = ".orchestra/cap-paused.json"


def publish_usage_artifacts(
    project_id: str,
    cycle_rows: Sequence[UsageRow],
    today_rows: Sequence[UsageRow],
    caps: Caps,
    day: str,
) -> None:
    """The cycle's usage on its run, and today's (a new version of one key each cycle)."""
    from prefect.artifacts import create_markdown_artifact

    today = spend_of(today_rows)
    create_markdown_artifact(
        markdown=host_text(markdown("Usage of this cycle", cycle_rows, caps, today)),
        key=artifact_key(project_id, "usage-cycle"),
        description=f"this cycle: {spend_of(cycle_rows).text()}",
    )
    create_markdown_artifact(
        markdown=host_text(markdown(f"Usage today ({day})", today_rows, caps, today)),
        key=artifact_key(project_id, "usage-today"),
        description=f"{day}: {today.text()}",
    )


def pause_for_cap(root: Path, deployment_id: str, reason: str, resume_at: datetime) -> str:
    """Pause the deployment's active schedules until ``resume_at``; say what happened."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    ids = _pause(UUID(deployment_id))
    recorded = _read(root)
    known = {p["deployment_id"]: p for p in recorded.get("paused", [])}
    entry = known.setdefault(deployment_id, {"deployment_id": deployment_id, "schedule_ids": []})
    entry["schedule_ids"] = list(dict.fromkeys([*entry["schedule_ids"], *ids]))
    data = {"reason": reason, "resume_at": resume_at.isoformat(), "paused": list(known.values())}
    path = root / CAP_PAUSED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    if not recorded.get("resume_run"):
        run = cast(
            "FlowRun",
            run_deployment(
                UUID(deployment_id), scheduled_time=resume_at, timeout=0, as_subflow=False
            ),
        )
        data["resume_run"] = str(run.id)
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    when = resume_at.strftime("%Y-%m-%d %H:%M UTC")
    return f"; {len(ids)} schedule(s) paused until {when} (the day rolls over)"


def resume_after_cap(root: Path, now: datetime | None = None) -> str:
    """Resume the schedules a cap paused once its day is over; what was resumed ('' none)."""
    recorded = _read(root)
    if not recorded:
        return ""
    moment = now or datetime.now(UTC)
    if moment < datetime.fromisoformat(str(recorded.get("resume_at"))):
        return ""
    _, by_operator = read_paused(root)
    held = {i for p in by_operator for i in p.schedule_ids}
    items = [
        Paused("", str(p["deployment_id"]), [i for i in p["schedule_ids"] if i not in held])
        for p in recorded.get("paused", [])
    ]
    done = resume_paused([p for p in items if p.schedule_ids])
    (root / CAP_PAUSED_FILE).unlink(missing_ok=True)
    said = f"resumed {sum(len(p.schedule_ids) for p in done)} schedule(s) a spending cap paused"
    logger.info("{} ({})", said, recorded.get("reason", ""))
    return said


def _read(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / CAP_PAUSED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

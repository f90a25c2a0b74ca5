"""The task report and the cycle table as Prefect artifacts on the current run."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from orchestra.engine.task import TaskOutcome
from orchestra.paths import host_text
from orchestra.report.markdown import inline, task_markdown
from orchestra.secrets import redact


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lower-case letters, digits and dashes only."""
    key = "-".join(parts).lower()
    return re.sub(r"[^a-z0-9-]+", "-", key).strip("-")[:120]


def publish_task_artifact(outcome: TaskOutcome, project_id: str) -> None:
    """Attach the task's report to the current Prefect run (no-op outside a run)."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        markdown=host_text(task_markdown(outcome)),
        key=artifact_key(project_id, outcome.task_id),
        description=f"{outcome.task_id}: {outcome.status}"
        + (f" ({outcome.kind})" if outcome.kind else ""),
    )


CYCLE_COLUMNS = (
    "task",
    "title",
    "status",
    "kind",
    "steps",
    "tokens",
    "cost_usd",
    "reason",
    "integration",
    "host",
    "started",
    "ended",
    "alongside",
    "queue",
    "report",
)
"""One row per task; ``host``, ``started``, ``ended`` and ``alongside`` (the tasks that ran at the
same time) show what ran side by side, and where; ``integration`` where the result landed (or why
it waits on its branch) and ``queue`` its turn in the merge queue."""


def publish_cycle_artifact(
    tasks: Sequence[Mapping[str, Any]], project_id: str, summary: str
) -> None:
    """Attach the cycle's table (one row per task) to the current Prefect run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    rows = [
        {col: host_text(redact(str(t.get(col) or "")))[:300] for col in CYCLE_COLUMNS}
        for t in tasks
    ]
    if rows:
        create_table_artifact(
            table=rows, key=artifact_key(project_id, "cycle"), description=host_text(summary)
        )
    else:
        create_markdown_artifact(
            markdown=host_text(f"# Cycle\n\n{inline(summary)}\n"),
            key=artifact_key(project_id, "cycle"),
        )

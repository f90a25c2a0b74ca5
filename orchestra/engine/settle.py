"""What happens to a task file when its run ends: archived on success, kept with its reasons
on failure. Plus finding the claim of a task already moved into ``running/``."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from loguru import logger

from orchestra.engine.failover import failovers
from orchestra.engine.failures import costs_attempt
from orchestra.engine.ledger import usage_of
from orchestra.engine.task import TaskOutcome
from orchestra.errors import QueueError
from orchestra.paths import engine_side_path, private_dirs
from orchestra.queue.claims import Claimed
from orchestra.queue.store import TaskQueue
from orchestra.queue.taskfile import parse_task
from orchestra.secrets import redact


def load_claim(queue: TaskQueue, path: Path) -> Claimed:
    """The claim of a task file in ``running/`` (claimed earlier by the cycle)."""
    record = queue.claim_record(path)
    if record is None:
        msg = f"{str(path)!r} is not a claimed task in {str(queue.layout.running)!r}; pass a running task"
        raise QueueError(msg)
    if record.pid != os.getpid() or record.host != socket.gethostname():
        # Only the process that claimed a task runs it; anything else would run it twice.
        msg = (
            f"{path.name} is claimed by run {record.run_id!r} (pid {record.pid} on {record.host}); "
            "pass a task file from the queue folder instead"
        )
        raise QueueError(msg)
    return Claimed(parse_task(path, max_chars=queue.max_task_chars), record)


def finish(queue: TaskQueue, claimed: Claimed, outcome: TaskOutcome, report: str) -> Path:
    """Archive a done task, or give a failed one back (or to failed/) with its ``report``.

    Only a task failure costs an attempt; after an outage or an operator's stop the task goes
    back to the queue as it was.
    """
    if outcome.status == "done":
        where = queue.archive(claimed)
    elif not costs_attempt(outcome.kind):
        where = queue.requeue(claimed, reason=outcome.reason)
    else:
        where = queue.fail(claimed, reason=outcome.reason, report=report)
    logger.bind(task_id=outcome.task_id, event=outcome.status).info(
        "{} {} → {}", outcome.task_id, outcome.status, engine_side_path(where)
    )
    return where


def outcome_row(outcome: TaskOutcome) -> dict[str, Any]:
    """The task's outcome as JSON, reason redacted: the row the cycle records, written to
    ``outcome.json`` and sent back by a pool worker (each adds its own fields)."""
    return {
        "task": outcome.task_id,
        "title": outcome.title,
        "status": outcome.status,
        "reason": redact(outcome.reason),
        "steps": len(outcome.steps),
        "cost_usd": outcome.cost_usd,
        "tokens": outcome.tokens,
        "integration": outcome.integration,
        "host": outcome.host,
        "started": outcome.started,
        "ended": outcome.ended,
        "kind": outcome.kind,
        "failover": failovers(outcome.steps),
        "usage": usage_of(outcome.steps),
        "queue": outcome.queue,
    }


def write_outcome(outcome: TaskOutcome, *, report: Path | None, moved_to: Path) -> dict[str, Any]:
    """The task's outcome as the cycle reads it back: ``outcome.json`` in its run folder."""
    data = outcome_row(outcome) | {"report": str(report), "moved_to": str(moved_to)}
    if outcome.run_dir is not None:
        private_dirs(outcome.run_dir)
        (outcome.run_dir / "outcome.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return data


def last_failures(runs_dir: Path) -> dict[str, tuple[str, str]]:
    """Task id → (ended, reason) of its latest failed ``outcome.json`` in the run folders: why a
    task back in the queue failed last time (its file only counts the attempts)."""
    found: dict[str, tuple[str, str]] = {}
    for path in runs_dir.glob("*/*/outcome.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a run folder being written or pruned: the next listing sees it
        if not isinstance(data, dict) or data.get("status") != "failed":
            continue
        task, ended = str(data.get("task", "")), str(data.get("ended", ""))
        if task not in found or ended > found[task][0]:
            found[task] = (ended, str(data.get("reason", "")))
    return found

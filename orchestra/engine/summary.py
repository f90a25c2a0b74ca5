"""What one cycle did: the summary it ends with, and the outcome each task flow left in its run folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CycleSummary:
    """What one cycle did, as printed at the end and returned by the flow."""

    project: str
    queue_dir: str
    runs_dir: str
    recovered: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = ""
    memory: str = "available"
    swept: int = 0
    disk_mb: float = 0.0
    pruned_flow_runs: int = 0
    """Finished Prefect flow runs older than limits.keep_days deleted at the end of the cycle."""
    usage: str = ""
    """What the cycle's agents spent, and today's total against the daily caps."""

    @property
    def done(self) -> list[dict[str, Any]]:
        """Tasks archived as done."""
        return [t for t in self.tasks if t.get("status") == "done"]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Tasks that failed this cycle."""
        return [t for t in self.tasks if t.get("status") != "done"]

    def failed_by_kind(self) -> dict[str, int]:
        """Failed tasks per failure kind (task, infrastructure, operator)."""
        counts: dict[str, int] = {}
        for t in self.failed:
            kind = str(t.get("kind") or "task")
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    def headline(self) -> str:
        """One line: what happened."""
        text = (
            f"planned {len(self.planned)}, ran {len(self.tasks)}, archived {len(self.done)}, "
            f"failed {len(self.failed)}, rejected {len(self.rejected)}"
        )
        kinds = self.failed_by_kind()
        if set(kinds) - {"task"}:
            text += " (" + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())) + ")"
        if self.memory != "available":
            text += f"; memory {self.memory}"
        if self.usage:
            text += f"; {self.usage}"
        return f"{text}; stopped: {self.stop_reason}" if self.stop_reason else text

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly, with the derived counts."""
        data = asdict(self)
        data["headline"] = self.headline()
        data["failed_by_kind"] = self.failed_by_kind()
        return data


def read_outcome(run_dir: Path, task_id: str, fallback_reason: str) -> dict[str, Any]:
    """The outcome the task flow wrote; a crash before that is a failure with the state message."""
    path = run_dir / "outcome.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"task": task_id, "status": "failed", "reason": fallback_reason, "steps": 0}
    return data

"""The folders a task file lives in: queue, running, done, failed, rejected."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestra.errors import ConfigError
from orchestra.paths import resolve_in_project


@dataclass(frozen=True)
class QueueLayout:
    """The five folders a task lives in. They must be distinct."""

    queue: Path
    running: Path
    done: Path
    failed: Path
    rejected: Path

    def __post_init__(self) -> None:
        folders = [self.queue, self.running, self.done, self.failed, self.rejected]
        if len({p.resolve() for p in folders}) != len(folders):
            msg = f"queue folders must be five different folders, got {[str(p) for p in folders]}"
            raise ConfigError(msg)

    @classmethod
    def under(
        cls,
        project: Path,
        *,
        queue_dir: str = ".orchestra/queue",
        archive_dir: str = ".orchestra/done",
        running_dir: str = ".orchestra/running",
        failed_dir: str = ".orchestra/failed",
        rejected_dir: str = ".orchestra/rejected",
    ) -> QueueLayout:
        """Resolve config values against ``project``; relative ones may not escape it."""
        return cls(
            queue=resolve_in_project(project, queue_dir, what="queue_dir"),
            running=resolve_in_project(project, running_dir, what="running_dir"),
            done=resolve_in_project(project, archive_dir, what="archive_dir"),
            failed=resolve_in_project(project, failed_dir, what="failed_dir"),
            rejected=resolve_in_project(project, rejected_dir, what="rejected_dir"),
        )

"""The project a cycle works on: its root, its loaded configuration and its queue.

Opening a project reads and checks; it changes nothing (no logging set-up, no runtime, no git
write). Logging is set up by :func:`orchestra.report.log.setup_project_logging`, runtimes come
from :class:`orchestra.runtime.pool.RuntimePool`, and preflight lives in
:mod:`orchestra.engine.preflight`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestra.config.loader import load_config
from orchestra.config.models import OrchestraConfig, WorkerProfile
from orchestra.errors import ConfigError
from orchestra.paths import engine_side_path, resolve_in_project
from orchestra.queue.layout import QueueLayout
from orchestra.queue.store import TaskQueue
from orchestra.workspace.git import check_project


def host_root(root: Path) -> Path:
    """The repository's folder on the host: ``root`` itself, or what the Compose stack's
    worker sees at /project mapped back (``ORCHESTRA_HOST_PATH_MAP``)."""
    return Path(engine_side_path(root.resolve()))


def project_name(root: Path, configured: str | None = None) -> str:
    """``name`` from the config, else the repository's folder name on the host."""
    return configured or host_root(root).name or "project"


def project_id_for(root: Path, name: str | None = None) -> str:
    """A short stable id: the project's name plus a hash of its absolute path on the host (two
    stacks' repositories, both at /project inside, keep apart)."""
    where = host_root(root)
    digest = hashlib.sha256(str(where).encode()).hexdigest()[:8]
    label = name or where.name
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in label.lower()) or "project"
    return f"{safe}-{digest}"


def resolve_log_file(project: Path, configured: str) -> Path:
    """LOG_FILE wins over the configured path; relative paths live under the project."""
    raw = os.environ.get("LOG_FILE") or configured
    path = Path(raw).expanduser()
    return path if path.is_absolute() else project / path


#: Where the host keeps each task's git dir (beside the work trees, never inside one).
GITDIRS_DIR = ".orchestra/gitdirs"


@dataclass
class Project:
    """A git project opened with its configuration."""

    root: Path
    config: OrchestraConfig
    sources: tuple[str, ...]
    layout: QueueLayout
    queue: TaskQueue
    project_id: str
    log_file: Path
    name: str = ""
    """Runs and tags say this: the configured `name`, else the folder name on the host."""

    @property
    def host_root(self) -> Path:
        """The repository's folder on the host (reports show paths under it)."""
        return host_root(self.root)

    def path(self, value: str, what: str) -> Path:
        """A configured folder, resolved safely under the project."""
        return resolve_in_project(self.root, value, what=what)

    @property
    def runs_dir(self) -> Path:
        """Per-run prompts, outputs, handoffs and reports."""
        return self.path(self.config.workflows.infinite_orchestra.runs_dir, "runs_dir")

    @property
    def worktrees_dir(self) -> Path:
        """Where the task clones live."""
        return self.path(self.config.git.worktrees_dir, "git.worktrees_dir")

    @property
    def gitdirs_dir(self) -> Path:
        """The host's own git dir of each task: never mounted into a step."""
        return self.path(GITDIRS_DIR, "gitdirs")

    def worker(self, worker_id: str) -> WorkerProfile:
        """The profile of ``worker_id``; an unknown id is a config error with the fix."""
        try:
            return self.config.workers[worker_id]
        except KeyError:
            known = sorted(self.config.workers)
            msg = f"worker {worker_id!r} is not defined in `workers`; known: {known}"
            raise ConfigError(msg) from None

    def workflow_workers(self, *, include_planner: bool = True) -> list[str]:
        """Worker ids the cycle will use, in order, without duplicates."""
        wf = self.config.workflows
        ids = [wf.infinite_orchestra.planner] if include_planner else []
        ids += [s.worker for s in wf.roocode_boomerang.steps]
        return list(dict.fromkeys(ids))


def open_project(
    project: str | Path,
    config_files: Sequence[str | Path] = (),
    *,
    goal: str | None = None,
    max_tasks: int | None = None,
) -> Project:
    """Load the config and check the project; nothing in the queue changes here."""
    root = check_project(Path(project).expanduser().resolve())
    loaded = load_config(root, overlays=[Path(p) for p in config_files])
    config = loaded.config
    if goal:
        config.workflows.infinite_orchestra.goal = goal
    if max_tasks is not None:
        if max_tasks < 1:
            msg = f"--max-tasks {max_tasks} must be at least 1"
            raise ConfigError(msg)
        config.workflows.infinite_orchestra.max_tasks_per_cycle = max_tasks
    wf = config.workflows.infinite_orchestra
    layout = QueueLayout.under(
        root,
        queue_dir=wf.queue_dir,
        archive_dir=wf.archive_dir,
        running_dir=wf.running_dir,
        failed_dir=wf.failed_dir,
        rejected_dir=wf.rejected_dir,
    )
    queue = TaskQueue(
        layout,
        max_task_chars=config.workflows.roocode_boomerang.max_task_chars,
        max_attempts=config.tasks.max_attempts,
    )
    log_file = resolve_log_file(root, config.logging.file)
    return Project(
        root=root,
        config=config,
        sources=loaded.sources,
        layout=layout,
        queue=queue,
        project_id=project_id_for(root, config.name),
        log_file=log_file,
        name=project_name(root, config.name),
    )

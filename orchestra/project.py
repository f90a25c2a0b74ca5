"""Open a project for a cycle: config, git checks, queue layout, logging, runtimes, preflight."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from orchestra.agents import executable
from orchestra.config.loader import load_config
from orchestra.config.models import OrchestraConfig, WorkerProfile
from orchestra.errors import ConfigError
from orchestra.paths import resolve_in_project
from orchestra.queue.layout import QueueLayout
from orchestra.queue.store import TaskQueue
from orchestra.report.log import resolve_log_file, setup_logging
from orchestra.runtime.base import WorkerRuntime
from orchestra.workspace.git import check_project, ensure_excluded


def project_id_for(root: Path) -> str:
    """A short stable id: folder name plus a hash of its absolute path."""
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in root.name.lower()) or "project"
    return f"{safe}-{digest}"


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
    _runtimes: dict[str, WorkerRuntime] = field(default_factory=dict)

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

    def worker(self, worker_id: str) -> WorkerProfile:
        """The profile of ``worker_id``; an unknown id is a config error with the fix."""
        try:
            return self.config.workers[worker_id]
        except KeyError:
            known = sorted(self.config.workers)
            msg = f"worker {worker_id!r} is not defined in `workers`; known: {known}"
            raise ConfigError(msg) from None

    def runtime(self, profile: WorkerProfile, run_id: str) -> WorkerRuntime:
        """The runtime for a profile (one per distinct docker setting, reused within a run)."""
        kill_grace = self.config.limits.kill_grace_seconds
        if profile.runtime == "process":
            key = "process"
            if key not in self._runtimes:
                from orchestra.runtime.process import ProcessRuntime

                self._runtimes[key] = ProcessRuntime(kill_grace=kill_grace)
            return self._runtimes[key]
        assert profile.docker is not None  # guaranteed by WorkerProfile's validator
        key = f"docker:{run_id}:{profile.docker.model_dump_json()}"
        if key not in self._runtimes:
            from orchestra.runtime.docker import DockerRuntime

            self._runtimes[key] = DockerRuntime(
                profile.docker, project_id=self.project_id, run_id=run_id, kill_grace=kill_grace
            )
        return self._runtimes[key]

    def workflow_workers(self, *, include_planner: bool = True) -> list[str]:
        """Worker ids the cycle will use, in order, without duplicates."""
        wf = self.config.workflows
        ids = [wf.infinite_orchestra.planner] if include_planner else []
        ids += [s.worker for s in wf.roocode_boomerang.steps]
        return list(dict.fromkeys(ids))

    def prompt_names(self, *, include_planner: bool = True) -> list[str]:
        """The prompt templates the workflow will render (checked by preflight)."""
        wf = self.config.workflows
        names = []
        if include_planner:
            names.append(self.worker(wf.infinite_orchestra.planner).prompt or "planner")
        for step in wf.roocode_boomerang.steps:
            names.append(step.prompt or self.worker(step.worker).prompt or step.id)
        return list(dict.fromkeys(names))

    def preflight(self, run_id: str, *, include_planner: bool = True) -> None:
        """Check the queue folder reads, the prompts exist and every worker can run, before
        anything is claimed; raises with the fix."""
        from orchestra.engine.prompting import prompt_text

        self.queue.pending()  # an unreadable queue_dir is bad input, like a bad config
        for name in self.prompt_names(include_planner=include_planner):
            prompt_text(name)  # a misspelt prompt fails here, not in the middle of a task
        for worker_id in self.workflow_workers(include_planner=include_planner):
            profile = self.worker(worker_id)
            self.runtime(profile, run_id).preflight(executable(profile.agent, profile.command))


def open_project(
    project: str | Path,
    config_files: Sequence[str | Path] = (),
    *,
    goal: str | None = None,
    max_tasks: int | None = None,
    log: bool = True,
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
    if log:
        ensure_excluded(root, (".orchestra/",))  # our state never shows in the user's git status
        setup_logging(
            log_file,
            level=config.logging.level,
            console_level=None,
            max_bytes=config.logging.max_bytes,
        )
        logger.debug("config loaded from {}", ", ".join(loaded.sources))
    return Project(
        root=root,
        config=config,
        sources=loaded.sources,
        layout=layout,
        queue=queue,
        project_id=project_id_for(root),
        log_file=log_file,
    )

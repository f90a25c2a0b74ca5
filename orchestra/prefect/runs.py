"""What every flow run does first: open the project, keep `.orchestra/` out of git, log into the
run, and build the runtimes with prefect-docker's engine client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestra.engine.preflight import exclude_state
from orchestra.prefect.docker_host import docker_host_client
from orchestra.prefect.logs import start_run_logging
from orchestra.project import Project, open_project
from orchestra.runtime.pool import RuntimePool


@dataclass(frozen=True)
class RunProject:
    """A project opened inside a flow run, with the runtimes its steps use."""

    project: Project
    runtimes: RuntimePool


def open_for_run(
    project: str | Path,
    config_files: Sequence[str | Path] = (),
    *,
    goal: str | None = None,
    max_tasks: int | None = None,
) -> RunProject:
    """Open ``project`` for this flow run (config read once here, then passed along)."""
    proj = open_project(project, config_files, goal=goal, max_tasks=max_tasks)
    exclude_state(proj)
    start_run_logging(proj)
    return RunProject(proj, runtime_pool(proj))


def runtime_pool(project: Project) -> RuntimePool:
    """Runtimes that reach Docker through prefect-docker's ``DockerHost``."""
    return RuntimePool(
        project.project_id,
        kill_grace=project.config.limits.kill_grace_seconds,
        docker_client=docker_host_client,
    )

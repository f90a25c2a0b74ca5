"""What every flow run does first: open the project, keep `.orchestra/` out of git, log into the
run, and build the runtimes with prefect-docker's engine client.

A cycle reads its config once: while it runs (:func:`holding`), the subflows it calls in the
same process (planner, tasks) get the project it opened instead of reading the files again, so
a config saved mid-cycle, typo and all, cannot strand a task the cycle already claimed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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


#: Projects opened by the cycle running in this process, by their root.
_HELD: dict[Path, Project] = {}


@contextmanager
def holding(run: RunProject) -> Iterator[None]:
    """While inside: :func:`open_for_run` on this project reuses the config the cycle loaded."""
    root = run.project.root.resolve()
    _HELD[root] = run.project
    try:
        yield
    finally:
        _HELD.pop(root, None)


def held_by_cycle(project: str | Path) -> bool:
    """Whether a cycle in this process holds ``project`` (and with it the cycle lock)."""
    return Path(project).expanduser().resolve() in _HELD


def open_for_run(
    project: str | Path,
    config_files: Sequence[str | Path] = (),
    *,
    goal: str | None = None,
    max_tasks: int | None = None,
) -> RunProject:
    """Open ``project`` for this flow run (config read once here, then passed along)."""
    held = _HELD.get(Path(project).expanduser().resolve())
    if held is not None:
        start_run_logging(held)
        return RunProject(held, runtime_pool(held))
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

"""What every flow run does first: open the project, keep `.orchestra/` out of git, log into the
run, tag the run with its project, and build the runtimes with prefect-docker's engine client.
Also the cycle's run name (``<project> · <UTC time>``) and the tags the UI filters on.

A cycle reads its config once: while it runs (:func:`holding`), the subflows it calls in the
same process (planner, tasks) get the project it opened instead of reading the files again, so
a config saved mid-cycle, typo and all, cannot strand a task the cycle already claimed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from loguru import logger

from orchestra.clock import utc_now
from orchestra.config.loader import load_config
from orchestra.engine.preflight import exclude_state
from orchestra.errors import OrchestraError
from orchestra.prefect.docker_host import docker_host_client
from orchestra.prefect.logs import quiet_failed_runs, start_run_logging
from orchestra.project import Project, open_project, project_name
from orchestra.runtime.pool import RuntimePool
from orchestra.workspace.git import find_root


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
    tags: Sequence[str] = (),
) -> RunProject:
    """Open ``project`` for this flow run (config read once here, then passed along); the run
    is tagged with the project and ``tags`` in one API call."""
    quiet_failed_runs()
    held = _HELD.get(Path(project).expanduser().resolve())
    if held is not None:
        start_run_logging(held)
        tag_run(project_tag(held.name), *tags)
        return RunProject(held, runtime_pool(held))
    proj = open_project(project, config_files, goal=goal, max_tasks=max_tasks)
    exclude_state(proj)
    start_run_logging(proj)
    tag_run(project_tag(proj.name), *tags)
    return RunProject(proj, runtime_pool(proj))


def project_tag(name: str) -> str:
    """``project:<name>``: every run of a project carries it (:attr:`Project.name`)."""
    return f"project:{name}"


def run_project_name(project: str | Path) -> str:
    """The name of the project at ``project`` for a run's name or tag, before or without
    opening it: the held project's, else the configured ``name`` or the host folder's name."""
    root = find_root(Path(project))
    held = _HELD.get(root)
    if held is not None:
        return held.name
    try:
        configured = load_config(root).config.name
    except OrchestraError:  # the run itself reports a bad config; its name must not fail
        configured = None
    return project_name(root, configured)


def task_tag(task_id: str) -> str:
    """``task:<task id>``: the task flow run of that task carries it."""
    return f"task:{task_id}"


def cycle_run_name() -> str:
    """``<project> · <UTC time>``: the name of a cycle's flow run (its ``flow_run_name``)."""
    from prefect.runtime import flow_run

    project = str(flow_run.parameters.get("project") or ".")
    return f"{run_project_name(project)} · {utc_now():%Y-%m-%d %H:%M:%S} UTC"


def plan_run_name() -> str:
    """``<project> · plan``: the name of a planner's flow run."""
    from prefect.runtime import flow_run

    project = str(flow_run.parameters.get("project") or ".")
    return f"{run_project_name(project)} · plan"


def tag_run(*tags: str) -> None:
    """Add ``tags`` to the current flow run (however it was started: ad hoc, by a deployment,
    as a subflow). Best effort: a run is never failed for its tags."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    if not run_id:
        return
    ctx = FlowRunContext.get()
    # The run as this process knows it (its tags as created): reading it again from the API
    # would cost a round trip per task.
    known = (
        ctx.flow_run if ctx is not None and str(getattr(ctx.flow_run, "id", "")) == run_id else None
    )
    if known and all(t in known.tags for t in tags):
        return
    try:
        with get_client(sync_client=True) as client:
            current = list(known.tags) if known else client.read_flow_run(UUID(run_id)).tags
            wanted = [t for t in tags if t not in current]
            if wanted:
                client.update_flow_run(UUID(run_id), tags=[*current, *wanted])
                if known:
                    known.tags = [*current, *wanted]
    except Exception as exc:  # tags help filtering in the UI; the run goes on without them
        logger.warning("could not tag flow run {} with {}: {}", run_id, tags, exc)


@contextmanager
def tagged_subflow(root: Path, task_id: str) -> Iterator[None]:
    """A subflow called inside is created with its project and task tags (no update later)."""
    from prefect import tags

    with tags(project_tag(run_project_name(root)), task_tag(task_id)):
        yield


@contextmanager
def untagged() -> Iterator[None]:
    """Task runs created inside carry only their own tags, not those the enclosing subflow was
    created with: Prefect asks the server for tag concurrency slots for every tagged task run,
    a round trip per step."""
    from prefect.context import TagsContext

    with TagsContext(current_tags=set()):
        yield


def runtime_pool(project: Project) -> RuntimePool:
    """Runtimes that reach Docker through prefect-docker's ``DockerHost``."""
    return RuntimePool(
        project.project_id,
        kill_grace=project.config.limits.kill_grace_seconds,
        engine_client=docker_host_client,
    )

"""Remove leftovers of dead runs: whatever a step's runtime left when its orchestrating process
died (for the Docker runtime, containers).

Every step's leftovers carry the owner (``host:pid``) of the process that ran the cycle; one
whose owner died on this host (SIGKILL, crash) is an orphan. Runs at the start of every cycle
and from the flows' on_crashed/on_cancellation hooks. Each runtime sweeps its own kind of
leftover (:meth:`~orchestra.runtime.base.WorkerRuntime.sweep_leftovers`); runtimes that share a
scope (one engine) are swept once.
"""

from __future__ import annotations

from functools import partial

from loguru import logger

from orchestra.errors import RuntimeUnavailableError
from orchestra.project import Project
from orchestra.queue.claims import owner_alive
from orchestra.runtime import EngineClientFactory, WorkerRuntime
from orchestra.runtime.pool import RuntimePool


def sweep_orphans(
    project: Project,
    *,
    exclude_self: bool = False,
    engine_client: EngineClientFactory | None = None,
) -> list[str]:
    """Remove what dead steps of this project left behind; return the removed ids."""
    runtimes = RuntimePool(project.project_id, engine_client=engine_client)
    scopes: dict[str, WorkerRuntime] = {}
    for worker_id in project.workflow_workers():
        runtime = runtimes.get(project.worker(worker_id), "upkeep")
        if runtime.leftover_scope is not None:
            scopes.setdefault(runtime.leftover_scope, runtime)
    alive = partial(owner_alive, exclude_self=exclude_self)
    removed: list[str] = []
    for runtime in scopes.values():
        try:
            removed += runtime.sweep_leftovers(alive)
        except RuntimeUnavailableError as exc:
            logger.warning("leftover sweep skipped: {}", exc)
    return removed

"""The global bound on agents: Prefect global concurrency limits every step goes through.

- ``orchestra-agents`` (``limits.max_parallel_agents`` slots): agent steps running at once across
  every cycle, project and host that share the Prefect server. Created on first use; its size
  follows the config of the last process that used it.
- ``orchestra-agent-starts`` (``limits.agent_starts_per_minute``): a rate limit on step starts,
  through the limit's slot decay (for model APIs with quotas).

A step holds its slot under a lease (:data:`LEASE_SECONDS`, renewed while it runs). A holder killed
with SIGKILL renews nothing: a standalone server's repossessor frees its slot after the lease.

On a private API, the ephemeral one (no ``PREFECT_API_URL``), or an Orchestra-managed server
this command started or found (:func:`mark_private`, called by :mod:`orchestra.prefect.connect`;
the user-level one is found by a deployment's cycle too, :func:`scope_to_project`), a project
runs one cycle at a time (the cycle lock), so the bound is a semaphore in this process: the same
bound for the project, no API writes per step (on SQLite each one risks a "database is locked"
503: measured ~26 s a cycle on a shared server before the short retries), and nothing to leak
when the process is killed (the ephemeral server has no repossessor). The user-level server is
shared by every project of the user, so there the limits that do live on the server (the rate
limit, the slots :func:`reset_if_ephemeral` frees) are named per project
(``orchestra-agent-starts-<project>``): two projects' cycles never resize or free each other's.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from loguru import logger

from orchestra.prefect.lease import SlotTimeout, leased_slot

AGENTS = "orchestra-agents"
STARTS = "orchestra-agent-starts"
#: The shortest lease Prefect accepts; the client renews it while the step runs.
LEASE_SECONDS = 60.0

_ensured: set[tuple[str, str, float]] = set()
_private_api: set[str] = set()
_project_of: dict[str, str] = {}
_local: dict[int, threading.BoundedSemaphore] = {}
_local_lock = threading.Lock()


def _local_slots(size: int) -> threading.BoundedSemaphore:
    with _local_lock:
        return _local.setdefault(size, threading.BoundedSemaphore(size))


def mark_private(api_url: str) -> None:
    """``api_url`` is the project's own server: it serves this project's cycles only."""
    _private_api.add(api_url)


def scope_to_project(project: str) -> None:
    """This process runs ``project``'s cycle: on the user-level server (shared by the user's
    projects), its limits are bound in-process and named per project (:func:`limit_name`)."""
    from orchestra.prefect.userserver import is_user_server

    api = os.environ.get("PREFECT_API_URL")
    if api and is_user_server(api):
        _private_api.add(api)
        _project_of[api] = re.sub(r"[^A-Za-z0-9._-]", "-", project)[:64] or "project"


def limit_name(base: str) -> str:
    """``base``, or ``base-<project>`` on the user-level server (:func:`scope_to_project`)."""
    project = _project_of.get(os.environ.get("PREFECT_API_URL") or "")
    return f"{base}-{project}" if project else base


def is_ephemeral() -> bool:
    """Whether this process talks to a private API: its own ephemeral one (no
    ``PREFECT_API_URL``), or the project's own server (:func:`mark_private`)."""
    api = os.environ.get("PREFECT_API_URL")
    return not api or api in _private_api


def _client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def ensure_limit(name: str, slots: int, decay_per_second: float | None = None) -> None:
    """Create (or resize) the limit ``name`` once per process and server."""
    key = (os.environ.get("PREFECT_API_URL", "ephemeral"), name, float(slots))
    if key in _ensured:
        return
    from prefect.exceptions import ObjectAlreadyExists

    with _client() as client:
        try:
            client.upsert_global_concurrency_limit_by_name(name, slots, decay_per_second)
        except ObjectAlreadyExists:
            # Prefect's upsert reads, then creates: another process (a pool worker's task next
            # to this one) created it in between. Now it exists: this call only resizes it.
            client.upsert_global_concurrency_limit_by_name(name, slots, decay_per_second)
    _ensured.add(key)


def reset_if_ephemeral(max_parallel_agents: int | None) -> int:
    """Free every slot of ``orchestra-agents`` on the ephemeral server; the slots freed."""
    if max_parallel_agents is None or not is_ephemeral():
        return 0
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    name = limit_name(AGENTS)
    with _client() as client:
        try:
            held = int(client.read_global_concurrency_limit_by_name(name).active_slots)
        except ObjectNotFound:
            return 0
        if held:
            client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(active_slots=0)
            )
            logger.warning(
                "{} slot(s) of {} were held by runs that no longer exist (the ephemeral server "
                "never returns them); freed",
                held,
                name,
            )
    return held


@contextmanager
def agent_slot(
    max_parallel_agents: int | None,
    starts_per_minute: float | None,
    *,
    timeout_s: float,
) -> Iterator[None]:
    """Hold one slot of ``orchestra-agents`` (and take one start from the rate limit) while a
    step runs; waits up to ``timeout_s`` for them, then fails with the limit named."""
    from prefect.concurrency.sync import rate_limit

    if starts_per_minute is not None:
        starts = limit_name(STARTS)
        ensure_limit(starts, max(1, math.ceil(starts_per_minute)), starts_per_minute / 60.0)
        _bounded(lambda: rate_limit(starts, timeout_seconds=timeout_s, strict=True), timeout_s)
    if max_parallel_agents is None:
        yield
        return
    if is_ephemeral():
        slots = _local_slots(max_parallel_agents)
        if not slots.acquire(timeout=timeout_s):
            raise _waited(AGENTS, timeout_s)
        try:
            yield
        finally:
            slots.release()
        return
    agents = limit_name(AGENTS)
    ensure_limit(agents, max_parallel_agents)
    with ExitStack() as stack:
        try:
            stack.enter_context(leased_slot(agents, timeout_s=timeout_s, lease_s=LEASE_SECONDS))
        except SlotTimeout as exc:
            raise _waited(agents, timeout_s) from exc
        yield


class TaskSlot:
    """One task's slot of ``orchestra-agents``, kept across its consecutive agent steps.

    A task runs one step at a time, so holding its slot from its first agent step to a step
    that is not an agent (the verify gate: our own command) or to its end still bounds the agent
    steps running at once, and asks the server twice per task instead of twice per step. Each
    agent step still takes its own start from the rate limit."""

    def __init__(self, max_parallel_agents: int | None, starts_per_minute: float | None) -> None:
        self.max_parallel_agents = max_parallel_agents
        self.starts_per_minute = starts_per_minute
        self._held: ExitStack | None = None

    def take(self, *, agent: bool, timeout_s: float) -> None:
        """Before a step: an agent step holds the slot (waiting up to ``timeout_s``), any other
        step gives it back."""
        if not agent:
            self.release()
            return
        if self.starts_per_minute is not None:
            with agent_slot(None, self.starts_per_minute, timeout_s=timeout_s):
                pass
        if self._held is None:
            held = ExitStack()
            held.enter_context(agent_slot(self.max_parallel_agents, None, timeout_s=timeout_s))
            self._held = held

    def release(self) -> None:
        """Give the slot back (no-op when not held)."""
        held, self._held = self._held, None
        if held is not None:
            held.close()


def _bounded(acquire: Any, timeout_s: float) -> None:
    try:
        acquire()
    except TimeoutError as exc:
        raise _waited(limit_name(STARTS), timeout_s) from exc


def _waited(name: str, timeout_s: float) -> Exception:
    from orchestra.errors import CycleError

    msg = (
        f"no slot of the global concurrency limit {name!r} came free within {timeout_s:.0f} s; "
        f"other runs hold them all (`prefect gcl inspect {name}`), or raise "
        "limits.max_parallel_agents / limits.agent_starts_per_minute"
    )
    return CycleError(msg)

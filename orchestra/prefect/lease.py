"""One slot of a Prefect global concurrency limit under a lease, straight through the sync client.

The same three server calls as ``prefect.concurrency.sync.concurrency`` (increment with a lease,
renew it while held, decrement with the lease), without its machinery: that one hands each call
to an event-loop thread and then to a queue service's thread, and on this 2-core machine the
hops cost ~0.13 s per step, more than the calls (docs/benchmarks.md, ``fixedcost``). A holder
killed with SIGKILL renews nothing, so the server's repossessor frees its slot after the lease,
as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from loguru import logger

LOCKED = 423
"""The server's answer while every slot is held; its Retry-After says when to ask again."""


class SlotTimeout(TimeoutError):
    """No slot came free in time."""


@contextmanager
def leased_slot(name: str, *, timeout_s: float, lease_s: float) -> Iterator[None]:
    """Hold one slot of the limit ``name`` (which must exist) while inside."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        lease_id = _acquire(client, name, timeout_s, lease_s)
        stop = threading.Event()
        renewer = threading.Thread(
            target=_renew, args=(lease_id, lease_s, stop), name=f"lease-{name}", daemon=True
        )
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            try:
                client.release_concurrency_slots_with_lease(lease_id)
            except Exception as exc:  # the lease ends by itself: the slot comes back then
                logger.warning("could not release {} lease {}: {}", name, lease_id, exc)


def _acquire(client: Any, name: str, timeout_s: float, lease_s: float) -> UUID:
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = client.increment_concurrency_slots_with_lease(
                names=[name], slots=1, mode="concurrency", lease_duration=lease_s
            )
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != LOCKED:
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise SlotTimeout(name) from exc
            wait = float(exc.response.headers.get("Retry-After", "1"))
            time.sleep(min(max(wait, 0.05), left))
            continue
        data = response.json()
        if not data.get("limits"):
            msg = f"the global concurrency limit {name!r} does not exist"
            raise LookupError(msg)
        return UUID(str(data["lease_id"]))


def _renew(lease_id: UUID, lease_s: float, stop: threading.Event) -> None:
    from prefect.client.orchestration import get_client

    # Renewed at half the lease: one late renewal still lands before the lease runs out.
    while not stop.wait(lease_s / 2):
        try:
            with get_client(sync_client=True) as client:
                client.renew_concurrency_lease(lease_id, lease_duration=lease_s)
        except Exception as exc:  # the next renewal may land; a lost lease frees the slot early
            logger.warning("could not renew concurrency lease {}: {}", lease_id, exc)

"""Short first retries when a Prefect server on SQLite answers "database is locked".

A Prefect server on SQLite answers HTTP 503 when a request's transaction lost a race with another
write (``SQLITE_BUSY_SNAPSHOT``: the route read, another connection committed, the route's write
then fails at once; the 60 s busy timeout does not apply). Prefect's client then sleeps
``2 ** attempt`` seconds unless the answer carries ``Retry-After``: 2 s for the first retry.
That 2 s, once or twice per 20-task cycle, is what made cycle walls move in 2-second steps
(docs/decisions.md). The race is over in milliseconds, so the first :data:`QUICK_RETRIES`
retries of a request answered 503 without ``Retry-After`` are told to come back after a fraction
of a second; later ones keep Prefect's own back-off (8, 16, 32 s), so a database that stays
locked is still waited for about as long as before (56 s instead of 62 s).

Prefect's client takes no response hook from its settings, so :func:`install` adds an httpx
response hook to every client Prefect's two HTTP client classes create in this process.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

#: ``Retry-After`` seconds for the first retries of one request (Prefect adds 0-20 % jitter).
QUICK_RETRIES = (0.1, 0.4)
LOCKED_STATUS = 503

_attempts: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_attempts_lock = threading.Lock()
_installed: list[bool] = []
_given = [0]


def quick_retries() -> int:
    """How many short ``Retry-After`` this process gave so far (the benches report it)."""
    return _given[0]


def quick_retry_after(response: Any) -> None:
    """Give a 503 answer without ``Retry-After`` a short one, for the first retries of its
    request (the same request object is sent again on each retry)."""
    if response.status_code != LOCKED_STATUS or "Retry-After" in response.headers:
        return
    with _attempts_lock:
        seen = _attempts.get(response.request, 0)
        _attempts[response.request] = seen + 1
        if seen < len(QUICK_RETRIES):
            _given[0] += 1
    if seen < len(QUICK_RETRIES):
        response.headers["Retry-After"] = str(QUICK_RETRIES[seen])


async def _quick_retry_after_async(response: Any) -> None:
    quick_retry_after(response)


def _with_hook(init: Callable[..., None], hook: Callable[[Any], Any]) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        hooks = self.event_hooks
        self.event_hooks = {**hooks, "response": [*hooks.get("response", []), hook]}

    return __init__


def install() -> None:
    """Add the hook to the HTTP clients Prefect creates from now on (once per process)."""
    if _installed:
        return
    from prefect.client.base import PrefectHttpxAsyncClient, PrefectHttpxSyncClient

    for cls, hook in (
        (PrefectHttpxAsyncClient, _quick_retry_after_async),
        (PrefectHttpxSyncClient, quick_retry_after),
    ):
        cls.__init__ = _with_hook(cls.__init__, hook)  # type: ignore[method-assign]
    _installed.append(True)

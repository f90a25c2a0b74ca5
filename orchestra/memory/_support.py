"""Plumbing shared by the memory backends: timestamps, the store clock, close/with handling."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

from orchestra.clock import utc_now
from orchestra.errors import MemoryItemError


def format_ts(moment: datetime) -> str:
    """Fixed-width RFC 3339 UTC text; it sorts in time order in SQLite and in Neo4j."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    """Inverse of :func:`format_ts`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class StoreClock:
    """UTC clock that never repeats or goes back within one store, so updates always move on."""

    def __init__(self, source: Callable[[], datetime] | None = None) -> None:
        self._source = source or utc_now
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current time, at least one microsecond after the previous call's."""
        with self._lock:
            moment = self._source().astimezone(UTC)
            if self._last is not None and moment <= self._last:
                moment = self._last + timedelta(microseconds=1)
            self._last = moment
            return moment


class StoreBase:
    """Context-manager plumbing shared by the backends."""

    closed: bool = False

    def close(self) -> None:
        """Release resources; subclasses extend."""
        self.closed = True

    def _check_open(self) -> None:
        if self.closed:
            msg = f"{type(self).__name__} is closed; open a new store"
            raise MemoryItemError(msg)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def check_limit(name: str, value: int) -> None:
    """Raise ValueError for a negative limit/bound."""
    if value < 0:
        msg = f"{name} must be >= 0, got {value!r}"
        raise MemoryItemError(msg)

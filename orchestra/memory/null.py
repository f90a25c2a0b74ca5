"""Stores that keep nothing: ``NullStore`` (``memory.backend: none``) and ``BestEffortStore``.

``BestEffortStore`` wraps a real store for one cycle: the first
:class:`~orchestra.errors.MemoryUnavailableError` is reported once through ``warn`` and the
wrapper then behaves like a ``NullStore`` until it is closed, so a dead Neo4j costs one
connection timeout and one warning per cycle, never the cycle itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from orchestra.errors import MemoryUnavailableError
from orchestra.memory._support import StoreBase, check_limit
from orchestra.memory.base import MemoryItem, MemoryStore, check_item

T = TypeVar("T")


class NullStore(StoreBase):
    """Remembers nothing: reads are empty, writes are accepted and dropped."""

    def __init__(self, *, max_items: int = 1000) -> None:
        check_limit("max_items", max_items)
        self._max_items = max_items

    def __repr__(self) -> str:
        return "NullStore()"

    @property
    def max_items(self) -> int:
        """History bound per project this store was opened with."""
        return self._max_items

    def put(self, item: MemoryItem) -> None:
        """Validate and drop the item."""
        self._check_open()
        check_item(item)

    def get(self, scope: str, project_id: str, key: str) -> MemoryItem | None:
        """Always None."""
        self._check_open()
        return None

    def delete(self, scope: str, project_id: str, key: str) -> bool:
        """Always False."""
        self._check_open()
        return False

    def recent(
        self,
        project_id: str,
        *,
        scope: str | None = None,
        tags: Sequence[str] = (),
        limit: int = 20,
    ) -> list[MemoryItem]:
        """Always empty."""
        self._check_open()
        return []

    def relate(self, src_key: str, dst_key: str, *, project_id: str, scope: str, type: str) -> None:
        """Nothing to relate: accepted and dropped."""
        self._check_open()

    def related(self, key: str, *, project_id: str, scope: str) -> list[tuple[str, str]]:
        """Always empty."""
        self._check_open()
        return []

    def trim(self, project_id: str, max_items: int) -> int:
        """Nothing to trim."""
        self._check_open()
        check_limit("max_items", max_items)
        return 0


def warn_unavailable(message: str) -> None:
    """Default ``warn``: one loguru warning."""
    from loguru import logger

    logger.warning("memory unavailable, this cycle goes on without it: {}", message)


class BestEffortStore(StoreBase):
    """Wraps ``inner``; after its first MemoryUnavailableError: one warning, then no-ops.

    Use one per cycle (``with BestEffortStore(open_store(...)) as memory:``). Other errors
    (bad arguments, a closed store) still raise: they are bugs, not outages.
    """

    def __init__(self, inner: MemoryStore, *, warn: Callable[[str], None] | None = None) -> None:
        self.inner = inner
        self.error: MemoryUnavailableError | None = None
        self._warn = warn or warn_unavailable
        self._null = NullStore(max_items=inner.max_items)

    def __repr__(self) -> str:
        return f"BestEffortStore({self.inner!r})"

    @property
    def available(self) -> bool:
        """False once the inner store failed; it is not tried again by this wrapper."""
        return self.error is None

    @property
    def max_items(self) -> int:
        """History bound per project of the inner store."""
        return self.inner.max_items

    def _call(self, real: Callable[[], T], fallback: Callable[[], T]) -> T:
        self._check_open()
        if self.error is None:
            try:
                return real()
            except MemoryUnavailableError as exc:
                self.error = exc
                self._warn(str(exc))
        return fallback()

    def put(self, item: MemoryItem) -> None:
        """Put into the inner store while it works."""
        self._call(lambda: self.inner.put(item), lambda: self._null.put(item))

    def get(self, scope: str, project_id: str, key: str) -> MemoryItem | None:
        """Get from the inner store while it works, else None."""
        return self._call(lambda: self.inner.get(scope, project_id, key), lambda: None)

    def delete(self, scope: str, project_id: str, key: str) -> bool:
        """Delete from the inner store while it works, else False."""
        return self._call(lambda: self.inner.delete(scope, project_id, key), lambda: False)

    def recent(
        self,
        project_id: str,
        *,
        scope: str | None = None,
        tags: Sequence[str] = (),
        limit: int = 20,
    ) -> list[MemoryItem]:
        """Recent items of the inner store while it works, else empty."""
        return self._call(
            lambda: self.inner.recent(project_id, scope=scope, tags=tags, limit=limit), list
        )

    def relate(self, src_key: str, dst_key: str, *, project_id: str, scope: str, type: str) -> None:
        """Relate in the inner store while it works."""
        self._call(
            lambda: self.inner.relate(
                src_key, dst_key, project_id=project_id, scope=scope, type=type
            ),
            lambda: None,
        )

    def related(self, key: str, *, project_id: str, scope: str) -> list[tuple[str, str]]:
        """Relations from the inner store while it works, else empty."""
        return self._call(lambda: self.inner.related(key, project_id=project_id, scope=scope), list)

    def trim(self, project_id: str, max_items: int) -> int:
        """Trim the inner store while it works, else 0."""
        return self._call(lambda: self.inner.trim(project_id, max_items), lambda: 0)

    def close(self) -> None:
        """Close the inner store too."""
        if not self.closed:
            self.inner.close()
        super().close()


__all__ = ["BestEffortStore", "NullStore", "warn_unavailable"]

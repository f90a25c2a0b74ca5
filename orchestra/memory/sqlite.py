"""Embedded memory: one SQLite file (WAL), stdlib only. The default backend.

Two tables mirror the Neo4j model: ``memory`` (items, primary key ``(scope, project_id, key)``)
and ``memory_rel`` (relations); a trigger drops an item's relations with it. The indexes on
``(project_id, updated_at, key)`` keep ``recent`` and ``trim`` cheap at tens of thousands of items.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from orchestra.errors import MemoryItemError, MemoryUnavailableError
from orchestra.memory._support import StoreBase, StoreClock, check_limit, format_ts, parse_ts
from orchestra.memory.base import MemoryItem, check_item

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS memory (
    scope TEXT NOT NULL,
    project_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, project_id, key)
);
CREATE INDEX IF NOT EXISTS memory_recent ON memory (project_id, updated_at, key);
CREATE INDEX IF NOT EXISTS memory_scope_recent ON memory (project_id, scope, updated_at, key);
CREATE TABLE IF NOT EXISTS memory_rel (
    scope TEXT NOT NULL,
    project_id TEXT NOT NULL,
    src_key TEXT NOT NULL,
    dst_key TEXT NOT NULL,
    type TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, project_id, src_key, dst_key, type)
);
CREATE INDEX IF NOT EXISTS memory_rel_dst ON memory_rel (scope, project_id, dst_key);
CREATE TRIGGER IF NOT EXISTS memory_rel_cleanup AFTER DELETE ON memory BEGIN
    DELETE FROM memory_rel
        WHERE scope = old.scope AND project_id = old.project_id AND src_key = old.key;
    DELETE FROM memory_rel
        WHERE scope = old.scope AND project_id = old.project_id AND dst_key = old.key;
END;
"""
_SELECT = "SELECT scope, project_id, key, value, tags, created_at, updated_at FROM memory"
_HAS_TAG = " AND EXISTS (SELECT 1 FROM json_each(memory.tags) WHERE json_each.value = ?)"


def _row_item(row: tuple[str, str, str, str, str, str, str]) -> MemoryItem:
    scope, project_id, key, value, tags, created, updated = row
    return MemoryItem(
        scope, project_id, key, value, list(json.loads(tags)), parse_ts(created), parse_ts(updated)
    )


def _tags(item: MemoryItem) -> str:
    return json.dumps(list(dict.fromkeys(item.tags)))


class SqliteStore(StoreBase):
    """Memory in one SQLite file; safe to share between threads and processes (WAL, busy wait).

    ``path`` may be ``":memory:"`` for a throwaway store. ``clock`` is for tests.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        max_items: int = 1000,
        clock: Callable[[], datetime] | None = None,
        busy_timeout: float = 5.0,
    ) -> None:
        check_limit("max_items", max_items)
        self.path = str(path)
        self._max_items = max_items
        self._clock = StoreClock(clock)
        self._lock = threading.RLock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._unavailable(exc) from exc
        try:
            with self._lock, self._translate():
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(
                    f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
                )
        except BaseException:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    @property
    def max_items(self) -> int:
        """History bound per project this store was opened with."""
        return self._max_items

    def _unavailable(self, exc: BaseException) -> MemoryUnavailableError:
        msg = (
            f"SQLite memory at {self.path!r} cannot be used: {exc}. Fix: make its folder "
            "writable, move a damaged file away (a new one is created), or set "
            "memory.backend: none"
        )
        return MemoryUnavailableError(msg)

    @contextmanager
    def _translate(self) -> Iterator[None]:
        self._check_open()
        try:
            yield
        except (sqlite3.ProgrammingError, sqlite3.IntegrityError):
            raise
        except sqlite3.DatabaseError as exc:
            raise self._unavailable(exc) from exc

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One IMMEDIATE transaction, under the thread lock; rolled back on error."""
        with self._lock, self._translate():
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def put(self, item: MemoryItem) -> None:
        """Insert or replace the item; sets ``updated_at``, keeps ``created_at`` of an update."""
        check_item(item)
        with self._write():
            now = format_ts(self._clock.now())
            self._db.execute(
                "INSERT INTO memory (scope, project_id, key, value, tags, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (scope, project_id, key) DO UPDATE SET "
                "value = excluded.value, tags = excluded.tags, updated_at = excluded.updated_at",
                (item.scope, item.project_id, item.key, item.value, _tags(item), now, now),
            )

    def get(self, scope: str, project_id: str, key: str) -> MemoryItem | None:
        """The item, or None."""
        with self._lock, self._translate():
            row = self._db.execute(
                f"{_SELECT} WHERE scope = ? AND project_id = ? AND key = ?",
                (scope, project_id, key),
            ).fetchone()
        return None if row is None else _row_item(row)

    def delete(self, scope: str, project_id: str, key: str) -> bool:
        """Remove the item and its relations; False when there was none."""
        with self._write():
            cursor = self._db.execute(
                "DELETE FROM memory WHERE scope = ? AND project_id = ? AND key = ?",
                (scope, project_id, key),
            )
        return cursor.rowcount > 0

    def recent(
        self,
        project_id: str,
        *,
        scope: str | None = None,
        tags: Sequence[str] = (),
        limit: int = 20,
    ) -> list[MemoryItem]:
        """Newest-updated items of a project first; only those carrying all of ``tags``."""
        check_limit("limit", limit)
        sql = f"{_SELECT} WHERE project_id = ?"
        params: list[object] = [project_id]
        if scope is not None:
            sql += " AND scope = ?"
            params.append(scope)
        for tag in dict.fromkeys(tags):
            sql += _HAS_TAG
            params.append(tag)
        sql += " ORDER BY updated_at DESC, key DESC LIMIT ?"
        params.append(limit)
        with self._lock, self._translate():
            rows = self._db.execute(sql, params).fetchall()
        return [_row_item(row) for row in rows]

    def relate(self, src_key: str, dst_key: str, *, project_id: str, scope: str, type: str) -> None:
        """Create or refresh ``src -[type]-> dst``; KeyError when either item is missing."""
        if not type:
            msg = "relation type must not be empty"
            raise MemoryItemError(msg)
        with self._write():
            found = {
                row[0]
                for row in self._db.execute(
                    "SELECT key FROM memory WHERE scope = ? AND project_id = ? AND key IN (?, ?)",
                    (scope, project_id, src_key, dst_key),
                )
            }
            missing = [k for k in (src_key, dst_key) if k not in found]
            if missing:
                msg = (
                    f"cannot relate {src_key!r} -> {dst_key!r}: "
                    f"no item {missing[0]!r} in scope {scope!r} of project {project_id!r}"
                )
                raise KeyError(msg)
            self._db.execute(
                "INSERT INTO memory_rel (scope, project_id, src_key, dst_key, type, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, project_id, src_key, dst_key, type) "
                "DO UPDATE SET updated_at = excluded.updated_at",
                (scope, project_id, src_key, dst_key, type, format_ts(self._clock.now())),
            )

    def related(self, key: str, *, project_id: str, scope: str) -> list[tuple[str, str]]:
        """``(type, dst_key)`` of the item's outgoing relations, newest first."""
        with self._lock, self._translate():
            rows = self._db.execute(
                "SELECT type, dst_key FROM memory_rel WHERE scope = ? AND project_id = ? "
                "AND src_key = ? ORDER BY updated_at DESC, type, dst_key",
                (scope, project_id, key),
            ).fetchall()
        return [(str(t), str(k)) for t, k in rows]

    def trim(self, project_id: str, max_items: int) -> int:
        """Delete a project's oldest items beyond ``max_items``; returns how many went."""
        check_limit("max_items", max_items)
        with self._write():
            cursor = self._db.execute(
                "DELETE FROM memory WHERE rowid IN (SELECT rowid FROM memory WHERE project_id = ? "
                "ORDER BY updated_at DESC, key DESC LIMIT -1 OFFSET ?)",
                (project_id, max_items),
            )
        return max(cursor.rowcount, 0)

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock:
            if not self.closed:
                self._db.close()
            super().close()


__all__ = ["SCHEMA_VERSION", "SqliteStore"]

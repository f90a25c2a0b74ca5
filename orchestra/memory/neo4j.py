"""Memory in Neo4j, through the official driver (imported only when this backend is chosen).

Nodes ``(:Memory {scope, project_id, key, value, tags, created_at, updated_at})``, unique on
``(scope, project_id, key)`` (constraint ``memory_key``, created on first use), relations
``(:Memory)-[:RELATES_TO {type, updated_at}]->(:Memory)``. Every value travels as a query
parameter. Timestamps are fixed-width RFC 3339 text, so they order the same as in SQLite.
Connection failures become :class:`~orchestra.errors.MemoryUnavailableError` naming the URI,
never the password.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, LiteralString

import neo4j
from neo4j.exceptions import AuthError, DriverError, Neo4jError, ServiceUnavailable

from orchestra.errors import MemoryItemError, MemoryUnavailableError
from orchestra.memory._support import StoreBase, StoreClock, check_limit, format_ts, parse_ts
from orchestra.memory.base import MemoryItem, check_item

DEFAULT_URI = "bolt://localhost:7687"
DEFAULT_USERNAME = "neo4j"
DEFAULT_DATABASE = "neo4j"

_SCHEMA: tuple[LiteralString, ...] = (
    "CREATE CONSTRAINT memory_key IF NOT EXISTS "
    "FOR (m:Memory) REQUIRE (m.scope, m.project_id, m.key) IS UNIQUE",
    "CREATE INDEX memory_recent IF NOT EXISTS FOR (m:Memory) ON (m.project_id, m.updated_at)",
)
_FIELDS = (
    "RETURN m.scope AS item_scope, m.project_id AS item_project, m.key AS item_key, "
    "m.value AS item_value, m.tags AS item_tags, m.created_at AS item_created, "
    "m.updated_at AS item_updated"
)
_PUT = (
    "MERGE (m:Memory {scope: $scope, project_id: $project_id, key: $item_key}) "
    "ON CREATE SET m.created_at = $now "
    "SET m.value = $value, m.tags = $tags, m.updated_at = $now"
)
_GET = "MATCH (m:Memory {scope: $scope, project_id: $project_id, key: $item_key}) " + _FIELDS
_DELETE = (
    "MATCH (m:Memory {scope: $scope, project_id: $project_id, key: $item_key}) "
    "DETACH DELETE m RETURN count(*) AS n"
)
_RECENT = (
    "MATCH (m:Memory {project_id: $project_id}) "
    "WHERE ($scope IS NULL OR m.scope = $scope) AND all(t IN $tags WHERE t IN m.tags) "
    + _FIELDS
    + " ORDER BY m.updated_at DESC, m.key DESC LIMIT $max_rows"
)
_RELATE = (
    "MATCH (a:Memory {scope: $scope, project_id: $project_id, key: $src}) "
    "MATCH (b:Memory {scope: $scope, project_id: $project_id, key: $dst}) "
    "MERGE (a)-[r:RELATES_TO {type: $rel_type}]->(b) SET r.updated_at = $now "
    "RETURN count(r) AS n"
)
_RELATED = (
    "MATCH (:Memory {scope: $scope, project_id: $project_id, key: $item_key})"
    "-[r:RELATES_TO]->(b:Memory) "
    "RETURN r.type AS rel_type, b.key AS dst_key ORDER BY r.updated_at DESC, r.type, b.key"
)
_TRIM = (
    "MATCH (m:Memory {project_id: $project_id}) "
    "WITH m ORDER BY m.updated_at DESC, m.key DESC SKIP $keep "
    "DETACH DELETE m RETURN count(*) AS n"
)


def _fix() -> str:
    return (
        "start Neo4j and point NEO4J_URI at it (bolt://neo4j:7687 inside Compose, "
        f"{DEFAULT_URI} on the host; see docs/memory.md), or set memory.backend: sqlite"
    )


class Neo4jStore(StoreBase):
    """Memory in a Neo4j database. Connects lazily: the first call checks the server.

    ``connection_timeout`` bounds connecting and retrying, so an unreachable server costs
    seconds, not the driver's default half minute. ``clock`` is for tests.
    """

    def __init__(
        self,
        uri: str = DEFAULT_URI,
        *,
        username: str = DEFAULT_USERNAME,
        password: str | None = None,
        database: str = DEFAULT_DATABASE,
        max_items: int = 1000,
        connection_timeout: float = 5.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        check_limit("max_items", max_items)
        self.uri, self.username, self.database = uri, username, database
        self._max_items = max_items
        self._clock = StoreClock(clock)
        self._lock = threading.Lock()
        self._ready = False
        auth = (username, password) if password else None
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri,
                auth=auth,
                connection_timeout=connection_timeout,
                connection_acquisition_timeout=connection_timeout * 2,
                max_transaction_retry_time=connection_timeout,
                warn_notification_severity="OFF",
                user_agent="orchestra-memory",
            )
        except (DriverError, ValueError) as exc:
            msg = f"Neo4j memory URI {uri!r} is not usable: {exc}. Fix: {_fix()}"
            raise MemoryUnavailableError(msg) from exc

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, max_items: int = 1000, connection_timeout: float = 5.0
    ) -> Neo4jStore:
        """Build from NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD, NEO4J_DATABASE."""
        password = environ.get("NEO4J_PASSWORD") or None
        return cls(
            environ.get("NEO4J_URI") or DEFAULT_URI,
            username=environ.get("NEO4J_USERNAME") or DEFAULT_USERNAME,
            password=password,
            database=environ.get("NEO4J_DATABASE") or DEFAULT_DATABASE,
            max_items=max_items,
            connection_timeout=connection_timeout,
        )

    def __repr__(self) -> str:
        return f"Neo4jStore({self.uri!r}, database={self.database!r})"

    @property
    def max_items(self) -> int:
        """History bound per project this store was opened with."""
        return self._max_items

    @contextmanager
    def _translate(self) -> Iterator[None]:
        where = f"Neo4j memory at {self.uri!r} (database {self.database!r})"
        try:
            yield
        except MemoryUnavailableError:
            raise
        except AuthError as exc:
            msg = (
                f"{where} refused user {self.username!r}: {exc}. "
                "Fix: check NEO4J_USERNAME and NEO4J_PASSWORD (NEO4J_AUTH of the server)"
            )
            raise MemoryUnavailableError(msg) from exc
        except Neo4jError as exc:
            if exc.code == "Neo.ClientError.Database.DatabaseNotFound":
                msg = f"{where}: no such database. Fix: set NEO4J_DATABASE (default 'neo4j')"
            elif exc.code == "Neo.TransientError.Database.DatabaseUnavailable":
                msg = f"{where} is not available yet: {exc}. Fix: wait for Neo4j to start"
            else:
                raise
            raise MemoryUnavailableError(msg) from exc
        except (ServiceUnavailable, DriverError, OSError) as exc:
            msg = f"{where} is unreachable: {exc}. Fix: {_fix()}"
            raise MemoryUnavailableError(msg) from exc

    def _run(
        self, query: LiteralString, *, read: bool = False, **params: Any
    ) -> list[dict[str, Any]]:
        self._check_open()
        routing = neo4j.RoutingControl.READ if read else neo4j.RoutingControl.WRITE
        with self._translate():
            self._setup()
            records, _, _ = self._driver.execute_query(
                query, params, routing_=routing, database_=self.database
            )
        return [record.data() for record in records]

    def _setup(self) -> None:
        with self._lock:
            if self._ready:
                return
            self._driver.verify_connectivity()
            try:
                for statement in _SCHEMA:
                    self._driver.execute_query(statement, database_=self.database)
            except (AuthError, DriverError):
                raise
            except Neo4jError as exc:
                if exc.code and exc.code.startswith("Neo.ClientError.Database."):
                    raise
                msg = (
                    f"Neo4j memory at {self.uri!r} refused the memory schema: {exc}. Fix: use "
                    "Neo4j 5 or later (image neo4j:5) and a user allowed to create constraints"
                )
                raise MemoryUnavailableError(msg) from exc
            self._ready = True

    def put(self, item: MemoryItem) -> None:
        """Insert or replace the item; sets ``updated_at``, keeps ``created_at`` of an update."""
        check_item(item)
        self._run(
            _PUT,
            scope=item.scope,
            project_id=item.project_id,
            item_key=item.key,
            value=item.value,
            tags=list(dict.fromkeys(item.tags)),
            now=format_ts(self._clock.now()),
        )

    def get(self, scope: str, project_id: str, key: str) -> MemoryItem | None:
        """The item, or None."""
        rows = self._run(_GET, read=True, scope=scope, project_id=project_id, item_key=key)
        return _item(rows[0]) if rows else None

    def delete(self, scope: str, project_id: str, key: str) -> bool:
        """Remove the item and its relations; False when there was none."""
        rows = self._run(_DELETE, scope=scope, project_id=project_id, item_key=key)
        return bool(rows and rows[0]["n"])

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
        rows = self._run(
            _RECENT, read=True, project_id=project_id, scope=scope, tags=list(tags), max_rows=limit
        )
        return [_item(row) for row in rows]

    def relate(self, src_key: str, dst_key: str, *, project_id: str, scope: str, type: str) -> None:
        """Create or refresh ``src -[type]-> dst``; KeyError when either item is missing."""
        if not type:
            msg = "relation type must not be empty"
            raise MemoryItemError(msg)
        now = format_ts(self._clock.now())
        rows = self._run(
            _RELATE,
            scope=scope,
            project_id=project_id,
            src=src_key,
            dst=dst_key,
            rel_type=type,
            now=now,
        )
        if not rows or not rows[0]["n"]:
            msg = (
                f"cannot relate {src_key!r} -> {dst_key!r}: "
                f"one of them is not in scope {scope!r} of project {project_id!r}"
            )
            raise KeyError(msg)

    def related(self, key: str, *, project_id: str, scope: str) -> list[tuple[str, str]]:
        """``(type, dst_key)`` of the item's outgoing relations, newest first."""
        rows = self._run(_RELATED, read=True, scope=scope, project_id=project_id, item_key=key)
        return [(str(row["rel_type"]), str(row["dst_key"])) for row in rows]

    def trim(self, project_id: str, max_items: int) -> int:
        """Delete a project's oldest items beyond ``max_items``; returns how many went."""
        check_limit("max_items", max_items)
        rows = self._run(_TRIM, project_id=project_id, keep=max_items)
        return int(rows[0]["n"]) if rows else 0

    def close(self) -> None:
        """Close the driver and its connections; idempotent."""
        if not self.closed:
            self._driver.close()
        super().close()


def _item(row: Mapping[str, Any]) -> MemoryItem:
    return MemoryItem(
        str(row["item_scope"]),
        str(row["item_project"]),
        str(row["item_key"]),
        str(row["item_value"]),
        [str(tag) for tag in row["item_tags"] or []],
        parse_ts(str(row["item_created"])),
        parse_ts(str(row["item_updated"])),
    )


__all__ = ["DEFAULT_DATABASE", "DEFAULT_URI", "DEFAULT_USERNAME", "Neo4jStore"]

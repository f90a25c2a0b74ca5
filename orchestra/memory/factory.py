"""Open the configured memory backend. Backends are imported only when chosen."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from orchestra.errors import ConfigError, MemoryUnavailableError
from orchestra.memory.base import MemoryStore
from orchestra.memory.null import BestEffortStore, NullStore, warn_unavailable
from orchestra.paths import resolve_in_project

BACKENDS: tuple[str, ...] = ("sqlite", "neo4j", "none")
DEFAULT_PATH = ".orchestra/memory.sqlite3"


def open_store(
    backend: str,
    *,
    project: Path,
    path: str = DEFAULT_PATH,
    max_items: int = 1000,
    environ: Mapping[str, str] | None = None,
) -> MemoryStore:
    """The store for ``memory.backend``: sqlite (file ``path`` in ``project``), neo4j, none.

    neo4j reads NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD, NEO4J_DATABASE from ``environ``
    (default ``os.environ``) and connects on first use.
    """
    if backend == "none":
        return NullStore(max_items=max_items)
    if backend == "sqlite":
        from orchestra.memory.sqlite import SqliteStore

        file = resolve_in_project(project, path, what="memory.path")
        return SqliteStore(file, max_items=max_items)
    if backend == "neo4j":
        from orchestra.memory.neo4j import Neo4jStore

        return Neo4jStore.from_env(os.environ if environ is None else environ, max_items=max_items)
    msg = f"memory.backend {backend!r} is not one of {list(BACKENDS)}; fix orchestra.yaml"
    raise ConfigError(msg)


def open_best_effort(
    backend: str,
    *,
    project: Path,
    path: str = DEFAULT_PATH,
    max_items: int = 1000,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> BestEffortStore:
    """Like :func:`open_store`, for one cycle: an unavailable backend warns once, never raises."""
    try:
        inner = open_store(
            backend, project=project, path=path, max_items=max_items, environ=environ
        )
    except MemoryUnavailableError as exc:
        store = BestEffortStore(NullStore(max_items=max_items), warn=warn)
        store.error = exc
        (warn or warn_unavailable)(str(exc))
        return store
    return BestEffortStore(inner, warn=warn)


__all__ = ["BACKENDS", "DEFAULT_PATH", "open_best_effort", "open_store"]

"""Fixtures for the memory contract: one suite, every backend that can run here.

SQLite always runs. Neo4j runs when NEO4J_URI points at a server (docs/memory.md); each test
then works in its own random project ids and deletes them afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestra.memory import MemoryStore, open_store

NEO4J_SKIP = "NEO4J_URI not set: no Neo4j server on this machine; see docs/memory.md"
BACKENDS = [
    "sqlite",
    pytest.param(
        "neo4j", marks=pytest.mark.skipif(not os.environ.get("NEO4J_URI"), reason=NEO4J_SKIP)
    ),
]

StoreFactory = Callable[[], MemoryStore]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Name of the backend under test."""
    return str(request.param)


@pytest.fixture
def project_id() -> str:
    """A project id no other test uses (Neo4j databases are shared)."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def other_project_id() -> str:
    """A second project, for isolation checks."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def open_memory(
    backend: str, tmp_path: Path, project_id: str, other_project_id: str
) -> Iterator[StoreFactory]:
    """Opens stores of the backend under test; closes them and forgets the test projects."""
    opened: list[MemoryStore] = []

    def factory() -> MemoryStore:
        store = open_store(
            backend, project=tmp_path, path="memory.sqlite3", max_items=1000, environ=os.environ
        )
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()
    if backend == "neo4j":
        with factory() as cleaner:
            for pid in (project_id, other_project_id):
                cleaner.trim(pid, 0)


@pytest.fixture
def store(open_memory: StoreFactory) -> MemoryStore:
    """An open store of the backend under test."""
    return open_memory()

"""What only some backends do: the null store, best effort, an unreachable Neo4j, the factory."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from orchestra.errors import (
    ConfigError,
    MemoryItemError,
    MemoryUnavailableError,
    OrchestraError,
    PathEscapeError,
)
from orchestra.memory import (
    DEFAULT_SCOPE,
    BestEffortStore,
    MemoryItem,
    MemoryStore,
    NullStore,
    SqliteStore,
    open_best_effort,
    open_store,
    record_task_outcome,
    summarize,
)
from orchestra.memory.neo4j import Neo4jStore

CLOSED_PORT_URI = "bolt://127.0.0.1:1"
SECRET = "s3cret-never-printed"
S = DEFAULT_SCOPE


def unreachable_neo4j() -> Neo4jStore:
    return Neo4jStore(CLOSED_PORT_URI, password=SECRET, connection_timeout=1.0)


class TestNeo4jUnreachable:
    def test_closed_port_is_memory_unavailable_naming_the_uri(self) -> None:
        """A server that is not there gives MemoryUnavailableError, fast, with URI and fix."""
        with unreachable_neo4j() as store:
            started = time.monotonic()
            with pytest.raises(MemoryUnavailableError) as caught:
                store.get(S, "p", "task:t")
            elapsed = time.monotonic() - started
        text = str(caught.value)
        assert CLOSED_PORT_URI in text
        assert "NEO4J_URI" in text and "memory.backend" in text
        assert SECRET not in text and SECRET not in repr(store)
        assert isinstance(caught.value, OrchestraError)
        assert elapsed < 5

    def test_bad_uri_scheme_is_memory_unavailable(self) -> None:
        """A URI the driver cannot use is reported with the URI, when the store is built."""
        with pytest.raises(MemoryUnavailableError, match="http2://nowhere"):
            Neo4jStore("http2://nowhere:7687")

    def test_factory_reads_the_neo4j_env(self, tmp_path: Path) -> None:
        """open_store('neo4j') takes URI, user and database from the environment given."""
        env = {
            "NEO4J_URI": CLOSED_PORT_URI,
            "NEO4J_USERNAME": "orchestra",
            "NEO4J_PASSWORD": SECRET,
            "NEO4J_DATABASE": "memory",
        }
        with open_store("neo4j", project=tmp_path, path="x", max_items=50, environ=env) as store:
            assert isinstance(store, Neo4jStore)
            assert (store.uri, store.username, store.database) == (
                CLOSED_PORT_URI,
                "orchestra",
                "memory",
            )
            assert store.max_items == 50


class TestBestEffort:
    def test_an_outage_warns_once_and_the_cycle_goes_on(self) -> None:
        """The first failure is one warning; later calls are quiet no-ops, nothing raises."""
        warnings: list[str] = []
        with BestEffortStore(unreachable_neo4j(), warn=warnings.append) as memory:
            record_task_outcome(
                memory,
                project_id="p",
                cycle_id="run-1",
                task_id="task-01",
                title="t",
                status="done",
                reason="",
                max_items=10,
            )
            text = summarize(memory, "p", 20)
            assert memory.recent("p") == [] and memory.get(S, "p", "task:task-01") is None
            assert memory.available is False
        assert len(warnings) == 1 and CLOSED_PORT_URI in warnings[0]
        assert "Nothing remembered" in text

    def test_a_working_store_is_passed_through(self, tmp_path: Path) -> None:
        """While the inner store works, the wrapper is transparent and silent."""
        warnings: list[str] = []
        memory = open_best_effort(
            "sqlite", project=tmp_path, path="m.sqlite3", max_items=10, warn=warnings.append
        )
        with memory:
            memory.put(MemoryItem(S, "p", "task:t"))
            assert [i.key for i in memory.recent("p")] == ["task:t"]
        assert warnings == [] and memory.available

    def test_a_store_that_cannot_open_warns_once(self, tmp_path: Path) -> None:
        """open_best_effort on an unusable SQLite file warns and hands back an empty memory."""
        (tmp_path / "not-a-dir").write_text("x")
        warnings: list[str] = []
        memory = open_best_effort(
            "sqlite", project=tmp_path, path="not-a-dir/m.sqlite3", warn=warnings.append
        )
        with memory:
            assert memory.recent("p") == []
        assert len(warnings) == 1 and "not-a-dir" in warnings[0]
        assert memory.available is False

    def test_bugs_still_raise(self) -> None:
        """A wrong argument is not an outage: it raises, and the store stays available."""
        with BestEffortStore(NullStore()) as memory, pytest.raises(MemoryItemError, match="JSON"):
            memory.put(MemoryItem(S, "p", "task:t", "{oops"))


class TestNullStore:
    def test_remembers_nothing(self) -> None:
        """backend none: writes are accepted and dropped, reads are empty."""
        with open_store("none", project=Path(), path="", max_items=10) as store:
            assert isinstance(store, MemoryStore)
            store.put(MemoryItem(S, "p", "task:t"))
            store.relate("cycle:c", "task:t", project_id="p", scope=S, type="ran")
            assert store.get(S, "p", "task:t") is None
            assert (
                store.recent("p") == [] and store.related("cycle:c", project_id="p", scope=S) == []
            )
            assert (store.delete(S, "p", "task:t"), store.trim("p", 0)) == (False, 0)


class TestFactory:
    def test_unknown_backend_is_a_config_error(self, tmp_path: Path) -> None:
        """A typo in memory.backend names the value and the choices."""
        with pytest.raises(ConfigError, match=r"'neo5j'.*sqlite"):
            open_store("neo5j", project=tmp_path)

    def test_sqlite_file_lives_in_the_project(self, tmp_path: Path) -> None:
        """The relative memory.path resolves under the project; folders are created."""
        with open_store("sqlite", project=tmp_path, path=".orchestra/memory.sqlite3") as store:
            store.put(MemoryItem(S, "p", "task:t"))
        assert (tmp_path / ".orchestra" / "memory.sqlite3").is_file()

    def test_sqlite_path_may_not_escape(self, tmp_path: Path) -> None:
        """memory.path '../x' is refused, naming the setting."""
        with pytest.raises(PathEscapeError, match=r"memory\.path"):
            open_store("sqlite", project=tmp_path, path="../elsewhere.sqlite3")


class TestSqliteFile:
    def test_uses_wal(self, tmp_path: Path) -> None:
        """The file is in WAL mode, so readers do not block the writer."""
        with SqliteStore(tmp_path / "m.sqlite3"):
            pass
        with sqlite3.connect(tmp_path / "m.sqlite3") as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.close()

    def test_two_stores_share_one_file(self, tmp_path: Path) -> None:
        """Two stores on one file (two processes, say) see each other's writes."""
        with SqliteStore(tmp_path / "m.sqlite3") as a, SqliteStore(tmp_path / "m.sqlite3") as b:
            a.put(MemoryItem(S, "p", "task:t"))
            assert b.get(S, "p", "task:t") is not None

    def test_a_damaged_file_is_memory_unavailable(self, tmp_path: Path) -> None:
        """A file that is not SQLite is reported with its path and what to do."""
        path = tmp_path / "m.sqlite3"
        path.write_bytes(b"this is not a database at all" * 100)
        with pytest.raises(MemoryUnavailableError, match="move a damaged file away"):
            SqliteStore(path)

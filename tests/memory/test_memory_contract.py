"""The MemoryStore contract, run against every backend available here (see conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from orchestra.errors import MemoryItemError
from orchestra.memory import (
    DEFAULT_SCOPE,
    SUMMARY_MAX_CHARS,
    MemoryItem,
    MemoryStore,
    TaskStatus,
    cycle_key,
    record_task_outcome,
    summarize,
    task_key,
)

S = DEFAULT_SCOPE
StoreFactory = Callable[[], MemoryStore]


def item(project_id: str, key: str, tags: list[str] | None = None, **value: object) -> MemoryItem:
    return MemoryItem(S, project_id, key, json.dumps(value), tags or [])


class TestRoundTrip:
    def test_put_then_get_returns_the_item(self, store: MemoryStore, project_id: str) -> None:
        """What was put comes back field by field, with UTC timestamps set by the store."""
        store.put(item(project_id, "task:task-01", ["task", "done"], title="Add parser"))
        got = store.get(S, project_id, "task:task-01")
        assert got is not None
        assert (got.scope, got.project_id, got.key) == (S, project_id, "task:task-01")
        assert got.data() == {"title": "Add parser"}
        assert got.tags == ["task", "done"]
        assert got.created_at == got.updated_at
        assert got.created_at.utcoffset() is not None

    def test_get_of_a_missing_key_is_none(self, store: MemoryStore, project_id: str) -> None:
        """An unknown key is None, not an error."""
        assert store.get(S, project_id, "task:nope") is None

    def test_value_must_be_json(self, store: MemoryStore, project_id: str) -> None:
        """A value that is not JSON text is refused before it is stored."""
        with pytest.raises(MemoryItemError, match="JSON"):
            store.put(MemoryItem(S, project_id, "task:bad", "not json"))


class TestUpsert:
    def test_update_keeps_created_at_and_moves_updated_at(
        self, store: MemoryStore, project_id: str
    ) -> None:
        """A second put replaces value and tags, keeps created_at, advances updated_at."""
        store.put(item(project_id, "task:t", ["task", "failed"], runs=1))
        first = store.get(S, project_id, "task:t")
        store.put(item(project_id, "task:t", ["task", "done"], runs=2))
        second = store.get(S, project_id, "task:t")
        assert first is not None and second is not None
        assert second.created_at == first.created_at
        assert second.updated_at > first.updated_at
        assert second.data() == {"runs": 2}
        assert second.tags == ["task", "done"]


class TestUniqueness:
    def test_one_item_per_scope_project_key(self, store: MemoryStore, project_id: str) -> None:
        """Puts of the same (scope, project, key) leave one item; another scope is another item."""
        for n in range(3):
            store.put(item(project_id, "task:t", n=n))
        store.put(MemoryItem("agent-notes", project_id, "task:t", '{"note": 1}'))
        assert [i.key for i in store.recent(project_id, scope=S)] == ["task:t"]
        assert len(store.recent(project_id)) == 2
        other = store.get("agent-notes", project_id, "task:t")
        assert other is not None and other.data() == {"note": 1}

    def test_projects_are_isolated(
        self, store: MemoryStore, project_id: str, other_project_id: str
    ) -> None:
        """The same key in two projects is two items; reads never cross projects."""
        store.put(item(project_id, "task:t", owner="a"))
        store.put(item(other_project_id, "task:t", owner="b"))
        a, b = store.get(S, project_id, "task:t"), store.get(S, other_project_id, "task:t")
        assert a is not None and b is not None
        assert (a.data(), b.data()) == ({"owner": "a"}, {"owner": "b"})
        assert [i.project_id for i in store.recent(project_id)] == [project_id]


class TestDelete:
    def test_delete_removes_once(self, store: MemoryStore, project_id: str) -> None:
        """delete is True when something went, False after; the item is gone."""
        store.put(item(project_id, "task:t"))
        assert store.delete(S, project_id, "task:t") is True
        assert store.delete(S, project_id, "task:t") is False
        assert store.get(S, project_id, "task:t") is None

    def test_delete_drops_relations(self, store: MemoryStore, project_id: str) -> None:
        """Relations to a deleted item disappear with it."""
        store.put(item(project_id, "cycle:r1"))
        store.put(item(project_id, "task:t"))
        store.relate("cycle:r1", "task:t", project_id=project_id, scope=S, type="ran")
        store.delete(S, project_id, "task:t")
        assert store.related("cycle:r1", project_id=project_id, scope=S) == []


class TestRecent:
    def test_newest_updated_first_with_limit(self, store: MemoryStore, project_id: str) -> None:
        """recent lists by updated_at, newest first, and an update moves an item to the front."""
        for n in range(5):
            store.put(item(project_id, f"task:t{n}", n=n))
        store.put(item(project_id, "task:t1", n=10))
        keys = [i.key for i in store.recent(project_id, limit=3)]
        assert keys == ["task:t1", "task:t4", "task:t3"]
        assert store.recent(project_id, limit=0) == []

    def test_tag_filter_needs_every_tag(self, store: MemoryStore, project_id: str) -> None:
        """Only items carrying all the given tags are listed."""
        store.put(item(project_id, "task:a", ["task", "done"]))
        store.put(item(project_id, "task:b", ["task", "failed"]))
        store.put(item(project_id, "cycle:c", ["cycle"]))
        assert [i.key for i in store.recent(project_id, tags=["task"])] == ["task:b", "task:a"]
        assert [i.key for i in store.recent(project_id, tags=["task", "done"])] == ["task:a"]
        assert store.recent(project_id, tags=["cycle", "done"]) == []

    def test_scope_filter(self, store: MemoryStore, project_id: str) -> None:
        """scope=None lists every scope; a scope lists only its own items."""
        store.put(item(project_id, "task:a"))
        store.put(MemoryItem("notes", project_id, "task:a"))
        assert [i.scope for i in store.recent(project_id, scope="notes")] == ["notes"]
        assert {i.scope for i in store.recent(project_id)} == {"notes", S}


class TestRelations:
    def test_relate_and_list(self, store: MemoryStore, project_id: str) -> None:
        """related lists (type, dst key) of outgoing relations; relating twice keeps one."""
        for key in ("cycle:r1", "task:a", "task:b"):
            store.put(item(project_id, key))
        store.relate("cycle:r1", "task:a", project_id=project_id, scope=S, type="ran")
        store.relate("cycle:r1", "task:b", project_id=project_id, scope=S, type="ran")
        store.relate("cycle:r1", "task:a", project_id=project_id, scope=S, type="ran")
        got = store.related("cycle:r1", project_id=project_id, scope=S)
        assert sorted(got) == [("ran", "task:a"), ("ran", "task:b")]
        assert got[0] == ("ran", "task:a")  # refreshed most recently
        assert store.related("task:a", project_id=project_id, scope=S) == []

    def test_relate_needs_both_items(
        self, store: MemoryStore, project_id: str, other_project_id: str
    ) -> None:
        """Relating to a missing item (or one in another project) is a KeyError."""
        store.put(item(project_id, "cycle:r1"))
        store.put(item(other_project_id, "task:a"))
        with pytest.raises(KeyError, match="task:a"):
            store.relate("cycle:r1", "task:a", project_id=project_id, scope=S, type="ran")


class TestTrim:
    def test_keeps_newest_n_of_that_project_only(
        self, store: MemoryStore, project_id: str, other_project_id: str
    ) -> None:
        """trim deletes the oldest beyond max_items in one project and reports how many."""
        for n in range(6):
            store.put(item(project_id, f"task:t{n}"))
            store.put(item(other_project_id, f"task:t{n}"))
        store.put(item(project_id, "task:t0", touched=True))
        assert store.trim(project_id, 3) == 3
        assert [i.key for i in store.recent(project_id)] == ["task:t0", "task:t5", "task:t4"]
        assert len(store.recent(other_project_id)) == 6
        assert store.trim(project_id, 3) == 0


class TestHistory:
    def test_record_task_outcome_writes_task_cycle_and_relation(
        self, store: MemoryStore, project_id: str
    ) -> None:
        """A recorded outcome is a task item, a cycle item listing it, and cycle -[ran]-> task."""
        runs: list[tuple[str, TaskStatus]] = [
            ("task-01", "failed"),
            ("task-01", "done"),
            ("task-02", "failed"),
        ]
        for task_id, status in runs:
            record_task_outcome(
                store,
                project_id=project_id,
                cycle_id="run-1",
                task_id=task_id,
                title=f"Title of {task_id}",
                status=status,
                reason="tests fail" if status == "failed" else "",
                max_items=100,
            )
        task = store.get(S, project_id, task_key("task-01"))
        cycle = store.get(S, project_id, cycle_key("run-1"))
        assert task is not None and cycle is not None
        assert task.data() == {
            "task_id": "task-01",
            "title": "Title of task-01",
            "status": "done",
            "reason": "",
            "cycle_id": "run-1",
            "runs": 2,
        }
        assert task.tags == ["task", "done"]
        assert cycle.data() == {
            "cycle_id": "run-1",
            "tasks": {"task-01": "done", "task-02": "failed"},
        }
        related = store.related(cycle_key("run-1"), project_id=project_id, scope=S)
        assert sorted(related) == [("ran", "task:task-01"), ("ran", "task:task-02")]

    def test_history_stays_bounded(self, store: MemoryStore, project_id: str) -> None:
        """record_task_outcome trims the project to max_items."""
        for n in range(15):
            record_task_outcome(
                store,
                project_id=project_id,
                cycle_id=f"run-{n}",
                task_id=f"task-{n:02d}",
                title="t",
                status="done",
                reason="",
                max_items=10,
            )
        assert len(store.recent(project_id, limit=100)) == 10

    def test_summary_names_done_and_failed_titles(
        self, store: MemoryStore, project_id: str
    ) -> None:
        """summarize lists done, failed and rejected titles (with reasons), within its cap."""
        outcomes: list[tuple[str, str, TaskStatus, str]] = [
            ("task-01", "Add a CLI flag", "done", ""),
            ("task-02", "Fix the flaky queue test", "failed", "timeout in test_claim"),
            ("task-03", "Rewrite everything", "rejected", "missing Acceptance criteria"),
        ]
        for task_id, title, status, reason in outcomes:
            record_task_outcome(
                store,
                project_id=project_id,
                cycle_id="run-1",
                task_id=task_id,
                title=title,
                status=status,
                reason=reason,
                max_items=100,
            )
        text = summarize(store, project_id, 20)
        for _, title, _, _ in outcomes:
            assert title in text
        assert "timeout in test_claim" in text
        assert "### Done (1)" in text and "### Failed (1)" in text
        assert len(text) <= SUMMARY_MAX_CHARS

    def test_summary_is_capped(self, store: MemoryStore, project_id: str) -> None:
        """Many long titles still give at most SUMMARY_MAX_CHARS, every status represented."""
        statuses: tuple[TaskStatus, TaskStatus] = ("done", "failed")
        for n in range(30):
            record_task_outcome(
                store,
                project_id=project_id,
                cycle_id="run-1",
                task_id=f"task-{n:02d}",
                title="A rather long task title that goes on " * 5,
                status=statuses[n % 2],
                reason="x" * 400,
                max_items=100,
            )
        text = summarize(store, project_id, 30)
        assert len(text) <= SUMMARY_MAX_CHARS
        assert "### Done (15)" in text and "### Failed (15)" in text and "more" in text

    def test_summary_of_nothing(self, store: MemoryStore, project_id: str) -> None:
        """An empty memory says so."""
        assert "Nothing remembered" in summarize(store, project_id, 20)


class TestLifecycle:
    def test_context_manager_closes(self, open_memory: StoreFactory, project_id: str) -> None:
        """Leaving the with-block closes the store; using it afterwards is a ValueError."""
        with open_memory() as store:
            store.put(item(project_id, "task:t"))
        with pytest.raises(MemoryItemError, match="closed"):
            store.get(S, project_id, "task:t")
        store.close()  # idempotent

    def test_data_survives_reopening(self, open_memory: StoreFactory, project_id: str) -> None:
        """What one store wrote, the next store opened the same way reads."""
        with open_memory() as first:
            first.put(item(project_id, "task:t", kept=True))
        with open_memory() as second:
            got = second.get(S, project_id, "task:t")
        assert got is not None and got.data() == {"kept": True}

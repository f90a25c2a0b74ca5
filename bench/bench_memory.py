"""Benchmark: the memory work of one cycle on a SQLite store that already holds n items.

One simulated cycle = 4 ``record_task_outcome`` calls (get/put task, get/put cycle, relate,
trim at ``max_items = n``) + one ``summarize``. Target: median under 50 ms at n = 10,000.
Run: ``python bench/bench_memory.py [n]``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TypeAlias

from orchestra.memory import (
    DEFAULT_SCOPE,
    MemoryItem,
    SqliteStore,
    record_task_outcome,
    summarize,
    task_key,
)

CYCLES = 20
TASKS_PER_CYCLE = 4
TARGET_MS = 50
PROJECT = "bench-project"
Result: TypeAlias = dict[str, float | int]


def _fill(store: SqliteStore, n: int) -> None:
    """n task items of one project, alternating done/failed, like record_task_outcome writes."""
    for i in range(n):
        status = "done" if i % 3 else "failed"
        value = {
            "task_id": f"old-{i}",
            "title": f"Old task number {i}: tidy module {i % 97}",
            "status": status,
            "reason": "" if status == "done" else "tests failed: assertion in test_x",
            "cycle_id": f"old-run-{i // 4}",
            "runs": 1,
        }
        store.put(
            MemoryItem(
                DEFAULT_SCOPE, PROJECT, task_key(f"old-{i}"), json.dumps(value), ["task", status]
            )
        )


def _cycle(store: SqliteStore, cycle: int, n: int) -> float:
    start = time.perf_counter()
    for t in range(TASKS_PER_CYCLE):
        record_task_outcome(
            store,
            project_id=PROJECT,
            cycle_id=f"bench-run-{cycle}",
            task_id=f"task-{cycle:03d}-{t}",
            title=f"Benchmark task {t} of cycle {cycle}",
            status="failed" if t == 3 else "done",
            reason="verify command exited 1" if t == 3 else "",
            max_items=n,
        )
    summarize(store, PROJECT, 30)
    return (time.perf_counter() - start) * 1000


def run(n: int = 10_000) -> Result:
    """Median milliseconds of one cycle's memory work over CYCLES cycles, store holding n items."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp,
        SqliteStore(Path(tmp) / "memory.sqlite3", max_items=n) as store,
    ):
        _fill(store, n)
        _cycle(store, -1, n)  # warm caches
        times = [_cycle(store, cycle, n) for cycle in range(CYCLES)]
        items = len(store.recent(PROJECT, limit=n + 100))
    return {
        "items": n,
        "items_after": items,
        "cycles": CYCLES,
        "median_cycle_ms": round(statistics.median(times), 3),
        "max_cycle_ms": round(max(times), 3),
        "target_ms": TARGET_MS,
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000), indent=2))

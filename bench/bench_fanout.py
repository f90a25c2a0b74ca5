"""Benchmark: fan-out of a cycle's tasks over Prefect pool workers (`dispatch: pool`), 2 vs 1.

8 tasks x 4 steps whose agent sleeps 5 s (``bench/fast_agent.py`` with ``FAST_AGENT_SLEEP``, as a
real agent waiting on a model; the coder writes a file, so each task pushes a branch that the
cycle fetches), ``parallel: 4``, on the cluster of tests/support/pool_cluster.py: a Prefect server and
worker containers each running ``prefect worker start --pool orch12b-tasks --limit 2``. The
same cycle runs once against 1 worker and once against 2, each worker container limited to one
core (``--cpus 1``): on this one machine, the fair stand-in for workers on hosts of their own
(without it, two workers' pool runs fought over the same 2 cores as the server and the cycle).
Target: 2 workers <= 0.6x the one-worker wall time. Ratios are from one run; the two clusters
start one after the other.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.pool_cluster import (  # noqa: E402
    cluster,
    finish,
    last_cycle,
    make_project,
    queue,
    start_cycle,
)

TASKS = 8
SLEEP_S = 5.0
LIMIT = 2
PARALLEL = 4
TARGET = 0.6
CPUS_PER_WORKER = 1.0


def one(workers: int) -> dict[str, Any]:
    """The cycle's wall time against ``workers`` workers, and where its tasks ran."""
    base = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    try:
        with cluster(workers=workers, limit=LIMIT, cpus=CPUS_PER_WORKER) as found:
            root = make_project(base / "project", found.remote, SLEEP_S, parallel=PARALLEL)
            queue(root, [f"task-{n}" for n in range(1, TASKS + 1)])
            started = time.perf_counter()
            out = finish(start_cycle(root, found.api), 1800)
            wall = time.perf_counter() - started
            tasks = last_cycle(root, out)["tasks"]
            done = [t for t in tasks if t.get("status") == "done"]
            if len(done) != TASKS:
                msg = f"{workers} worker(s): {len(done)} of {TASKS} tasks done\n{out[-3000:]}"
                raise RuntimeError(msg)
            hosts: dict[str, int] = {}
            for t in done:
                hosts[t["host"]] = hosts.get(t["host"], 0) + 1
            return {"wall_s": round(wall, 2), "hosts": hosts}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run() -> dict[str, Any]:
    """1 worker, then 2; the ratio of their wall times."""
    single = one(1)
    double = one(2)
    ratio = round(double["wall_s"] / single["wall_s"], 3)
    return {
        "tasks": TASKS,
        "steps": 4,
        "sleep_s": SLEEP_S,
        "limit_per_worker": LIMIT,
        "cpus_per_worker": CPUS_PER_WORKER,
        "parallel": PARALLEL,
        "one_worker_s": single["wall_s"],
        "two_workers_s": double["wall_s"],
        "hosts_one": single["hosts"],
        "hosts_two": double["hosts"],
        "ratio": ratio,
        "status": "PASS" if ratio <= TARGET else "MISS",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run()))

"""Benchmark: how much the wall of the same cycle moves between runs (issue 21, 2-second ticks).

Five real ``infinite-orchestra`` cycles of 20 tasks x 4 steps of ``bench/fast_agent.py``
(process runtime), one after the other in one process, on the same project as the ``overhead``
bench, after a one-task warm-up cycle. Spread = (slowest - fastest) / median. Before the fix
Prefect's client slept 2 s after each HTTP 503 "database is locked" from the SQLite-backed API,
so walls moved in 2 s steps; now those retries wait 0.1 s and 0.4 s
(:mod:`orchestra.prefect.backoff`), and the bench counts them. Two APIs: Prefect's ephemeral one
(what the ``overhead`` bench uses) and the project's own ``prefect server start`` that
``python -m flows.run`` uses. Target: spread ≤ 10 % of the median on each.

Run: ``python -m bench --only spread`` (or ``python bench/bench_spread.py [tasks] [runs]``).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_overhead import SETTLE_SECONDS, make_project, orchestra_cycle, prepare_prefect_env

TARGET_SPREAD = 0.10
STEPS = 4


def _cycles(root: Path, tasks: int, runs: int) -> dict[str, Any]:
    from orchestra.prefect.backoff import quick_retries

    orchestra_cycle(root, 1, 1, STEPS)  # warm-up: server start, imports
    walls = []
    before = quick_retries()
    for i in range(runs):
        time.sleep(SETTLE_SECONDS)
        walls.append(orchestra_cycle(root, 1000 * (i + 1), tasks, STEPS)["wall_s"])
    median = statistics.median(walls)
    return {
        "walls_s": [round(w, 3) for w in walls],
        "median_s": round(median, 3),
        "spread": round((max(walls) - min(walls)) / median, 3),
        "quick_retries": quick_retries() - before,
    }


def run(tasks: int = 20, runs: int = 5) -> dict[str, Any]:
    """Walls of ``runs`` cycles on the ephemeral API, then on the project's own server."""
    prepare_prefect_env()
    with tempfile.TemporaryDirectory(prefix="bench-spread-") as tmp:
        ephemeral = _cycles(make_project(Path(tmp) / "ephemeral", STEPS), tasks, runs)
        live_root = make_project(Path(tmp) / "live", STEPS)
        from orchestra.config.server import ServerConfig
        from orchestra.prefect.connect import connect, prefect_settings
        from orchestra.prefect.env import configure_prefect_env
        from orchestra.prefect.server import stop_server

        # The project's settings as flows.run makes them, kept out of this process's environment
        # (the benches after this one use the ephemeral API).
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        own = ServerConfig(scope="project")  # the project's own server, stopped below
        api = connect(live_root, configure_prefect_env(live_root, env), environ=env, server=own)
        try:
            with prefect_settings(api):
                live = _cycles(live_root, tasks, runs)
                from prefect.logging.handlers import APILogWorker

                APILogWorker.drain_all()  # the last runs' logs, before their server stops
        finally:
            stop_server(live_root)
    return {
        "tasks": tasks,
        "runs": runs,
        "ephemeral": ephemeral,
        "live": live,
        "ephemeral_spread": ephemeral["spread"],
        "live_spread": live["spread"],
        "worst_spread": max(ephemeral["spread"], live["spread"]),
        "target_spread": TARGET_SPREAD,
    }


def report(result: dict[str, Any]) -> str:
    """One row per API."""
    lines = [
        "| API | cycle walls | median | spread | 503 retries (0.1/0.4 s) |",
        "|---|---|---|---|---|",
    ]
    for name in ("ephemeral", "live"):
        r = result[name]
        walls = ", ".join(f"{w:.2f}" for w in r["walls_s"])
        lines.append(
            f"| {name} | {walls} s | {r['median_s']:.2f} s | {r['spread'] * 100:.1f} % |"
            f" {r['quick_retries']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    out = run(*args)
    print(json.dumps(out, indent=2))
    print(report(out))

"""A week in an hour: many scheduled cycles against a real ``prefect server``; does anything grow?

A ``prefect server start`` subprocess (its own PREFECT_HOME, SQLite database) serves the API.
One Python process then runs ``cycles`` cycles of flows.cycle with ``scheduled=True`` (the gates
of a scheduled run: idle gate at 0 minutes, daily budget raised) against it on a clock, as a
schedule starts them: cycle n starts ``interval_s`` x n after the first (at once when the one
before ran late). Back to back, the cycles' pace followed the machine's load, and with retention
by age (``keep_days``) the database then held more cycles whenever they ran faster: its size
followed the pace, not the number of cycles. The clock is what a schedule gives. On a
git project whose workers run ``bench/fast_agent.py`` natively. Before each cycle one task goes
into the queue; the mix, by cycle number: every 10th cycle (n % 10 == 4) the coder fails on its
own (a task failure), every 10th (n % 10 == 8) it fails like a model API refusing the key (an
infrastructure failure), the rest succeed. After each cycle the bench takes any requeued task out
of the queue (so the next cycle runs the next task) and notes its ``attempts``: a task requeued
after an infrastructure failure must have none.

Retention is on with short limits, so that a week's pruning happens within the run:
``limits.keep_days`` (default 0.003 days, about 4 minutes; the server's event retention the
same), ``limits.keep_done`` 100, ``limits.keep_runs`` 20, ``logging.max_bytes`` 1 MB,
``memory.max_items`` 100. Every ``every`` cycles it samples the Prefect database size (the
``.db`` file with its WAL), ``.orchestra/`` on disk, the RSS and open fds of this process and the
server's RSS. The target: each grows under 10 % between the middle sample and the last one.

Not a worker: a real worker starts a fresh Python process per run (seconds each), which would
make 1,000 cycles take many hours on a small machine; the server, the API traffic, the database
and the project's files are the same.

Run: ``python bench/bench_week.py [cycles] [every]`` (prints JSON, then the markdown section).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_overhead import make_project
from bench.bench_soak import du_kb, open_fds, rss_kb

TARGET_GROWTH_PCT = 10.0
STEPS = 4
KEEP_DAYS = 0.003
INTERVAL_S = 3.0  # the schedule's clock: longer than a cycle takes on a busy 2-core machine
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(home: Path, keep_days: float) -> tuple[subprocess.Popen[bytes], str]:
    """``prefect server start`` on a free port; returns the process and the API URL."""
    import httpx

    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    # Events are the server's to prune (docs/24-7.md): the same horizon as keep_days, checked
    # every minute instead of every hour.
    env.update(
        PREFECT_SERVER_EVENTS_RETENTION_PERIOD=f"PT{max(60, int(keep_days * 86400))}S",
        PREFECT_SERVER_SERVICES_DB_VACUUM_LOOP_SECONDS="60",
    )
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"prefect server exited {proc.returncode}: see {home / 'server.log'}"
            raise RuntimeError(msg)
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    msg = "prefect server did not become healthy in 180 s"
    raise RuntimeError(msg)


def db_bytes(home: Path) -> int:
    """The server's SQLite database with its WAL and shared-memory files."""
    return sum(p.stat().st_size for p in home.glob("*.db*") if p.is_file())


def db_content(home: Path) -> dict[str, Any]:
    """What the database holds, apart from its file size: the KiB of pages in use (a SQLite file
    never shrinks; freed pages are reused) and the rows of its largest tables."""
    import sqlite3

    found = sorted(home.glob("*.db"))
    if not found:
        return {"used_kb": 0, "rows": {}}
    with contextlib.closing(sqlite3.connect(f"file:{found[0]}?mode=ro", uri=True)) as db:
        pages, free, size = (
            db.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_count", "freelist_count", "page_size")
        )
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    biggest = dict(sorted(rows.items(), key=lambda kv: -kv[1])[:8])
    return {"used_kb": (pages - free) * size // 1024, "rows": biggest}


def kind_of(number: int) -> str:
    """What cycle ``number`` is meant to do."""
    return {4: "task", 8: "infrastructure"}.get(number % 10, "done")


def queue_task(root: Path, number: int) -> Path:
    marker = {"task": "INJECT-TASKFAIL", "infrastructure": "INJECT-INFRA"}.get(kind_of(number), "")
    queue = root / ".orchestra" / "queue"
    queue.mkdir(parents=True, exist_ok=True)
    path = queue / f"task-{number:05d}.md"
    path.write_text(
        f"---\ntitle: Week task {number}\n---\n\n## Goal\n\nDo nothing, quickly. {marker}\n\n"
        "## Acceptance criteria\n\n- the agent writes a handoff\n",
        encoding="utf-8",
    )
    return path


def attempts(path: Path) -> int:
    import yaml

    front = yaml.safe_load(path.read_text(encoding="utf-8").split("---\n", 2)[1]) or {}
    value = front.get("attempts", 0)
    return value if isinstance(value, int) else 0


def configure(root: Path, keep_days: float) -> None:
    with (root / "orchestra.yaml").open("a", encoding="utf-8") as fh:
        fh.write(
            f"limits:\n  keep_days: {keep_days}\n  keep_done: 100\n  keep_runs: 20\n"
            "  max_cycles_per_day: 1000000\n"
            "  max_consecutive_failures: 3\n"
            # the other bounds, small enough to be reached within the run
            "logging:\n  max_bytes: 1000000\n"
            "memory:\n  max_items: 100\n"
        )
    # Committed: an uncommitted change would make the idle gate skip every scheduled cycle.
    subprocess.run(["git", "commit", "-qam", "week limits"], cwd=root, check=True)
    os.environ["ORCHESTRA_WORKFLOWS__TRIGGERS__INFINITE_ORCHESTRA__IDLE_MINUTES"] = "0"


def run(
    cycles: int = 1000,
    *,
    every: int = 50,
    keep_days: float = KEEP_DAYS,
    budget_s: float = 0,
    interval_s: float = INTERVAL_S,
) -> dict[str, Any]:
    """Run up to ``cycles`` scheduled cycles, one every ``interval_s`` (stop early after
    ``budget_s`` seconds if set)."""
    home = Path(tempfile.mkdtemp(prefix="bench-week-prefect-"))
    server, url = start_server(home, keep_days)
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_API_URL"] = url
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    tmp = Path(tempfile.mkdtemp(prefix="bench-week-"))
    aside = tmp / "aside"
    aside.mkdir()
    samples: list[dict[str, Any]] = []
    outcomes = {"done": 0, "task": 0, "infrastructure": 0, "other": 0}
    wasted = 0  # attempts taken from tasks by failures that were not theirs
    task_attempts = 0
    ran = 0
    started = time.perf_counter()
    try:
        root = make_project(tmp / "project", STEPS)
        configure(root, keep_days)
        from flows.cycle import infinite_orchestra

        late = 0
        for number in range(1, cycles + 1):
            wait = started + (number - 1) * interval_s - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            else:
                late += 1  # the cycle before ran over its slot
            queue_task(root, number)
            state = infinite_orchestra(
                project=str(root), max_tasks=1, scheduled=True, return_state=True
            )
            ran = number
            summary = root / ".orchestra" / "runs" / str(state.state_details.flow_run_id)
            try:
                tasks = json.loads((summary / "cycle.json").read_text(encoding="utf-8"))["tasks"]
            except (OSError, ValueError, KeyError):
                tasks = []
            got = "other"
            if not tasks and number <= 3:
                msg = f"cycle {number} ran no task: {state.name}: {state.message}"
                raise RuntimeError(msg)
            if tasks:
                got = "done" if tasks[0].get("status") == "done" else str(tasks[0].get("kind"))
            outcomes[got if got in outcomes else "other"] += 1
            for left in sorted((root / ".orchestra" / "queue").glob("*.md")):
                n = attempts(left)
                if kind_of(number) == "infrastructure":
                    wasted += n
                else:
                    task_attempts += n
                shutil.move(str(left), aside / left.name)  # the bench's own housekeeping
            if number % every == 0 or number == cycles:
                content = db_content(home)
                samples.append(
                    {
                        "cycle": number,
                        "elapsed_s": round(time.perf_counter() - started, 1),
                        "db_kb": db_bytes(home) // 1024,
                        "db_used_kb": content["used_kb"],
                        "db_rows": content["rows"],
                        "orchestra_kb": du_kb(root / ".orchestra"),
                        "rss_kb": rss_kb(),
                        "server_rss_kb": rss_kb(server.pid),
                        "fds": open_fds(),
                    }
                )
                print(f"bench_week: {samples[-1]}", file=sys.stderr, flush=True)
            if budget_s and time.perf_counter() - started > budget_s:
                break
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    result = summarize(samples, outcomes, wasted, task_attempts, ran, cycles, keep_days, started)
    return result | {"interval_s": interval_s, "cycles_late": late}


def _growth(samples: list[dict[str, Any]], key: str) -> float | None:
    if len(samples) < 2:
        return None
    mid = samples[(len(samples) - 1) // 2][key]
    last = samples[-1][key]
    if not mid:
        return None
    return round((last - mid) / mid * 100, 1)


def summarize(
    samples: list[dict[str, Any]],
    outcomes: dict[str, int],
    wasted: int,
    task_attempts: int,
    ran: int,
    asked: int,
    keep_days: float,
    started: float,
) -> dict[str, Any]:
    growth = {k: _growth(samples, k) for k in ("db_kb", "orchestra_kb", "rss_kb", "fds")}
    flat = all(g is not None and g < TARGET_GROWTH_PCT for g in growth.values())
    used_growth = _growth(samples, "db_used_kb")  # shown, not a target: the file is what costs
    return {
        "cycles_asked": asked,
        "cycles_run": ran,
        "keep_days": keep_days,
        "outcomes": outcomes,
        "attempts_taken_by_non_task_failures": wasted,
        "attempts_taken_by_task_failures": task_attempts,
        "growth_pct_mid_to_end": growth,
        "db_used_growth_pct": used_growth,
        "max_growth_pct": max((g for g in growth.values() if g is not None), default=None),
        "total_s": round(time.perf_counter() - started, 1),
        "samples": samples,
        "status": "PASS" if flat and wasted == 0 and ran == asked else "MISS",
    }


def report(result: dict[str, Any]) -> str:
    """A markdown section for docs/benchmarks.md."""
    r = result
    mid = r["samples"][(len(r["samples"]) - 1) // 2]["cycle"] if r["samples"] else "-"
    lines = [
        f"## A week in an hour: {r['cycles_run']} scheduled cycles on a real server (`week`)",
        "",
        f"{r['cycles_run']} of {r['cycles_asked']} cycles ran in {r['total_s']} s, one every"
        f" {r.get('interval_s', '-')} s ({r.get('cycles_late', '-')} started late); outcomes "
        f"{r['outcomes']}. Retention: keep_days {r['keep_days']}, keep_done 100, keep_runs 20, logging.max_bytes 1 MB, memory.max_items 100; server events kept as long as keep_days.",
        f"Task attempts taken by non-task failures: **{r['attempts_taken_by_non_task_failures']}**"
        f" (target 0; task failures took {r['attempts_taken_by_task_failures']}).",
        f"Growth from cycle {mid} to the end: {r['growth_pct_mid_to_end']} (target < 10 % each)."
        f" Status: **{r['status']}**.",
        "",
        "| cycle | elapsed s | Prefect DB KiB | DB pages in use KiB | .orchestra KiB | RSS KiB"
        " | server RSS KiB | fds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in r["samples"]:
        lines.append(
            f"| {s['cycle']} | {s['elapsed_s']} | {s['db_kb']} | {s.get('db_used_kb', '-')} |"
            f" {s['orchestra_kb']} | {s['rss_kb']} | {s['server_rss_kb']} | {s['fds']} |"
        )
    if r["samples"] and "db_rows" in r["samples"][-1]:
        middle = r["samples"][(len(r["samples"]) - 1) // 2]
        lines += [
            "",
            f"Pages in use grew {r.get('db_used_growth_pct')} % from cycle {mid} to the end."
            f" Rows of the largest tables at cycle {mid}: {middle['db_rows']}; at the end:"
            f" {r['samples'][-1]['db_rows']}.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    step = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    budget = float(os.environ.get("BENCH_WEEK_BUDGET_S", "0"))
    interval = float(os.environ.get("BENCH_WEEK_INTERVAL_S", str(INTERVAL_S)))
    out = run(count, every=step, budget_s=budget, interval_s=interval)
    print(json.dumps(out, indent=2))
    print(report(out))

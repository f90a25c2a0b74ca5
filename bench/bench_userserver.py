"""Benchmark: the user-level Prefect server (issue 21, item 1): what it costs idle, and what a
cycle costs on it next to another project's.

- **idle**: CPU (% of one core, over 60 s after 20 s of settling) and RSS of a fresh ``prefect
  server start`` on SQLite, three ways: Prefect's defaults; Orchestra's (the services a private
  server does not need off: ``QUIET_SERVICES``); every service off (the floor, not usable).
- **walls**: ``python -m flows.run`` of 20 tasks x 4 steps of ``bench/fast_agent.py`` (process
  runtime), as a user runs it, with the server up: one project on a server of its own
  (``server.scope: project``); one project alone on the user-level server; two projects at once
  on it (what sharing costs). After a 1-task warm-up each; the first two interleaved. The 503
  "database is locked" answers the servers log (``PREFECT_API_LOG_RETRYABLE_ERRORS``) are
  counted, each one a request the client retried, with the API route of each.

Run: ``python -m bench --only userserver`` (or ``python bench/bench_userserver.py``).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_overhead import make_project, queue_tasks
from orchestra.prefect.server import (
    QUIET_SERVICES,
    free_port,
    kill_group,
    server_env,
    spawn_server,
    wait_healthy,
)

REPO = Path(__file__).resolve().parent.parent
SETTLE_S = 20.0
WINDOW_S = 60.0
TASKS = 20
STEPS = 4
RUNS = 3
SERVICES = (
    "CANCELLATION_CLEANUP", "CLEANUP_RECONCILER", "EVENT_PERSISTER", "FOREMAN", "LATE_RUNS",
    "PAUSE_EXPIRATIONS", "REPOSSESSOR", "SCHEDULER", "TASK_RUN_RECORDER", "TRIGGERS",
)  # fmt: skip
#: What the server logs (PREFECT_API_LOG_RETRYABLE_ERRORS) for each 503 it answers.
RETRYABLE = "Encountered retryable exception in request"
ROUTE = re.compile(r'prefect/server/api/(\w+)\.py", line \d+, in (\w+)')


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def idle_server(overrides: Mapping[str, str]) -> dict[str, float]:
    """CPU % and RSS MB of one idle server with ``overrides`` over Orchestra's environment."""
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        home, port = Path(tmp), free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env = server_env(str(home), port, None, base) | dict(overrides)
        proc = spawn_server(port, env, home / "server.log")
        try:
            wait_healthy(proc, f"http://127.0.0.1:{port}", home / "server.log", 300, what="bench")
            time.sleep(SETTLE_S)
            pids = _group(proc.pid)
            before, started = _cpu_ticks(pids), time.monotonic()
            time.sleep(WINDOW_S)
            pids = _group(proc.pid)
            ticks = _cpu_ticks(pids) - before
            seconds = time.monotonic() - started
            cpu = ticks / os.sysconf("SC_CLK_TCK") / seconds * 100
            return {"cpu_pct": round(cpu, 2), "rss_mb": round(_rss_mb(pids), 1)}
        finally:
            kill_group(proc.pid)


def idle() -> dict[str, Any]:
    on = dict.fromkeys(QUIET_SERVICES, "true")
    off = {f"PREFECT_SERVER_SERVICES_{s}_ENABLED": "false" for s in SERVICES}
    return {
        "prefect_defaults": idle_server(on),
        "orchestra": idle_server({}),
        "every_service_off": idle_server(off | {"PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": ""}),
    }


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORCHESTRA_"))}
    return env | {
        "XDG_DATA_HOME": str(data),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The servers these commands start log each 503 "database is locked" (counted below).
        "PREFECT_API_LOG_RETRYABLE_ERRORS": "true",
    }


def _project(root: Path, own: bool) -> Path:
    make_project(root, STEPS)
    (root / "orchestra.local.yaml").write_text(
        f"server:\n  scope: {'project' if own else 'user'}\n", encoding="utf-8"
    )
    with (root / ".git" / "info" / "exclude").open("a", encoding="utf-8") as exclude:
        exclude.write("orchestra.local.yaml\n.orchestra/\n")
    return root


def _cycle(root: Path, env: Mapping[str, str], first: int, tasks: int) -> float:
    queue_tasks(root, first, tasks)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "flows.run", "--project", str(root), "--max-tasks", str(tasks)],
        cwd=REPO, env=dict(env), capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        msg = f"flows.run on {root} exited {done.returncode}: {(done.stdout + done.stderr)[-2000:]}"
        raise RuntimeError(msg)
    return wall


def _locked(log: Path) -> int:
    try:
        return log.read_text(encoding="utf-8", errors="replace").count(RETRYABLE)
    except OSError:
        return 0


def _routes(log: Path, skip: int) -> dict[str, int]:
    """The API route of each retryable error after the first ``skip`` characters of ``log``."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")[skip:]
    except OSError:
        return {}
    counts: dict[str, int] = {}
    for chunk in text.split(RETRYABLE)[1:]:
        frames = ROUTE.findall(chunk)
        if frames:
            name = "/".join(frames[-1])
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def walls() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-userserver-") as tmp:
        base = Path(tmp)
        env = _env(base / "data")
        own = _project(base / "own", own=True)
        alpha, beta = _project(base / "alpha", own=False), _project(base / "beta", own=False)
        shared_log = base / "data" / "orchestra" / "server" / "server.log"
        try:
            for root in (own, alpha, beta):
                _cycle(root, env, 1, 1)  # warm-up (starts the server)
            result: dict[str, Any] = {}
            own_log = own / ".orchestra" / "server.log"
            own_before, alone_before = _locked(own_log), _locked(shared_log)
            private: list[float] = []
            alone: list[float] = []
            for i in range(RUNS):  # interleaved: the machine's load moves between runs
                private.append(_cycle(own, env, 100 * (i + 1), TASKS))
                alone.append(_cycle(alpha, env, 100 * (i + 1), TASKS))
            result["own_locked"] = _locked(own_log) - own_before
            result["alone_locked"] = _locked(shared_log) - alone_before
            locked = _locked(shared_log)
            skip = len(shared_log.read_text(encoding="utf-8", errors="replace"))
            together: list[float] = []
            with ThreadPoolExecutor(max_workers=2) as pool:
                for i in range(RUNS):
                    first = 1000 * (i + 1)
                    runs = [pool.submit(_cycle, r, env, first, TASKS) for r in (alpha, beta)]
                    together += [run.result() for run in runs]
            result["together_locked"] = _locked(shared_log) - locked
            result["together_routes"] = _routes(shared_log, skip)
        finally:
            for args in (["--project", str(own)], []):
                subprocess.run(
                    [str(Path(sys.executable).parent / "orchestra"), "server", "stop", *args],
                    env=env, capture_output=True, check=False,
                )  # fmt: skip
    return result | {
        "own_walls_s": [round(w, 2) for w in private],
        "alone_walls_s": [round(w, 2) for w in alone],
        "together_walls_s": [round(w, 2) for w in together],
        "own_median_s": round(statistics.median(private), 2),
        "alone_median_s": round(statistics.median(alone), 2),
        "together_median_s": round(statistics.median(together), 2),
    }


def run() -> dict[str, Any]:
    servers = idle()
    cycles = walls()
    default, ours = servers["prefect_defaults"], servers["orchestra"]
    return {
        "idle": servers,
        "walls": cycles,
        "idle_cpu_default_pct": default["cpu_pct"],
        "idle_cpu_orchestra_pct": ours["cpu_pct"],
        "idle_cpu_floor_pct": servers["every_service_off"]["cpu_pct"],
        "idle_rss_default_mb": default["rss_mb"],
        "idle_rss_orchestra_mb": ours["rss_mb"],
        "own_median_s": cycles["own_median_s"],
        "alone_median_s": cycles["alone_median_s"],
        "together_median_s": cycles["together_median_s"],
        "shared_vs_own": round(cycles["alone_median_s"] / cycles["own_median_s"], 3),
        "together_vs_own": round(cycles["together_median_s"] / cycles["own_median_s"], 3),
    }


def report(result: dict[str, Any]) -> str:
    """The idle table and the walls table."""
    lines = ["| server (idle, fresh SQLite) | CPU (% of a core) | RSS |", "|---|---|---|"]
    labels = {
        "prefect_defaults": "Prefect's defaults",
        "orchestra": "Orchestra's (foreman, late runs off)",
        "every_service_off": "every service off (floor, not usable)",
    }
    for key, label in labels.items():
        r = result["idle"][key]
        lines.append(f"| {label} | {r['cpu_pct']:.2f} % | {r['rss_mb']:.0f} MB |")
    lines.append("| stopped after `idle_stop_minutes` idle | 0 % | 0 MB |")
    w = result["walls"]
    lines += [
        "",
        "| `python -m flows.run`, 20 tasks x 4 steps | walls | median | 503 'database is locked' |",
        "|---|---|---|---|",
    ]
    for key, label in (
        ("own", "a server of its own"),
        ("alone", "user-level server, one project"),
        ("together", "user-level server, two projects at once"),
    ):
        walls_text = ", ".join(f"{x:.2f}" for x in w[f"{key}_walls_s"])
        lines.append(
            f"| {label} | {walls_text} s | {w[f'{key}_median_s']:.2f} s | {w[f'{key}_locked']} |"
        )
    routes = ", ".join(f"`{name}` {n}" for name, n in w.get("together_routes", {}).items())
    lines += ["", f"Routes of the retryable errors, two projects at once: {routes or 'none'}."]
    return "\n".join(lines)


if __name__ == "__main__":
    out = run()
    print(json.dumps(out, indent=2))
    print(report(out))

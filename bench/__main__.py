"""``python -m bench``: run every benchmark and write ``docs/benchmarks.md``.

    python -m bench [--only NAME] [--output FILE]

Benchmarks (each module is imported only when it runs; a missing or broken one is recorded as
"not run" with the reason, and the others still run):

queue     ``discover()`` over 10,000 task files vs a bare ``os.scandir``; target ratio ≤ 3
memory    one cycle's memory work on a store of 10,000 items; target median < 50 ms
overhead  per-step time of an Orchestra cycle vs a plain Prefect flow; target ratio ≤ 1.25
spread    5 walls of the same 20-task cycle, ephemeral API and live server; (max - min) ≤ 10 % of median
workspace per-task workspace creation vs clone --local / worktree add; ≤ 1.5x, disk < 5 %
parallel  8 tasks x 4 steps of 5 s at parallel k = 1, 2, 4, 8 vs ideal; target ≤ 1.25 at k = 4
fanout    the same 8 tasks over 2 pool workers against 1 (dispatch: pool); target ≤ 0.6x
fixedcost what one more task costs on top of the bare git/process floor; target on Postgres ≤ 0.5 s
first_step  `python -m flows.run` to its first step with the server up; target ≤ 3 s
mergequeue  a result landed on a moved base (replay + verify again) vs the verify alone; ≤ 1.5x
userserver  the user-level server idle (CPU, RSS) and 20-task cycles on it, alone and two at once

The results are printed as JSON and written as markdown (machine, date, one table per bench).
The exit status is 0 whenever the report was written, whatever the results; read PASS/MISS there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Bench:
    """One benchmark: how to run it, which number is checked and against what."""

    name: str
    module: str
    title: str
    what: str
    call: Callable[[Any], dict[str, Any]]
    metric: str
    """The key of the checked number in the result."""
    target_text: str
    passes: Callable[[float], bool]
    unit: str
    """Unit of the checked number ("x" for a ratio)."""
    rows: Sequence[tuple[str, str, str]] = ()
    """(key, label, unit) of the numbers shown in the table, in order."""


@dataclass
class Outcome:
    bench: Bench
    status: str  # "PASS", "MISS" or "not run"
    seconds: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    details: str = ""
    """The bench module's own ``report(result)`` markdown, when it has one."""


BENCHES: tuple[Bench, ...] = (
    Bench(
        name="queue",
        module="bench.bench_queue",
        title="Queue discovery",
        what=(
            "`orchestra.queue.taskfile.discover()` over a folder of 10,000 task files (plus non-task files),"
            " against a bare `os.scandir` name listing of the same folder; median of 7 runs each."
        ),
        call=lambda m: m.run(10_000),
        metric="ratio",
        target_text="discover / scandir ≤ 3",
        passes=lambda v: v <= 3,
        unit="x",
        rows=(
            ("discover_median_s", "discover() median", "s"),
            ("scandir_median_s", "os.scandir median", "s"),
            ("ratio", "discover / scandir", "x"),
            ("discover_names_median_s", "discover_names() median (no Path objects)", "s"),
            ("names_ratio", "discover_names / scandir", "x"),
        ),
    ),
    Bench(
        name="memory",
        module="bench.bench_memory",
        title="Memory per cycle",
        what=(
            "The memory work of one cycle (4 task outcomes recorded + one summary) on a SQLite"
            " store that already holds 10,000 items; median over the simulated cycles."
        ),
        call=lambda m: m.run(10_000),
        metric="median_cycle_ms",
        target_text="median < 50 ms",
        passes=lambda v: v < 50,
        unit="ms",
        rows=(
            ("items", "items in the store", ""),
            ("cycles", "cycles measured", ""),
            ("median_cycle_ms", "median per cycle", "ms"),
            ("max_cycle_ms", "slowest cycle", "ms"),
            ("items_after", "items after trimming", ""),
        ),
    ),
    Bench(
        name="overhead",
        module="bench.bench_overhead",
        title="Per-step orchestration overhead (process runtime)",
        what=(
            "20 tasks x 4 steps of `bench/fast_agent.py` (writes a handoff, exits at once), in one"
            " process: (a) a real `infinite-orchestra` cycle (git clone per task, subflow per"
            " task, task run per step, `ProcessRuntime`); (b) a plain Prefect flow, subflow per"
            " task, 4 `@task`s doing `subprocess.run` of the same argv; (c) 80 raw"
            " `subprocess.run` calls. Ephemeral Prefect API in a temporary `PREFECT_HOME`, warmed"
            " up by a 1-task cycle. Per step = wall time / 80; medians over the runs listed."
        ),
        call=lambda m: m.run(20, 4),
        metric="ratio_vs_prefect",
        target_text="Orchestra / plain Prefect ≤ 1.25",
        passes=lambda v: v <= 1.25,
        unit="x",
        rows=(
            ("orchestra_per_step_ms", "Orchestra, per step", "ms"),
            ("prefect_per_step_ms", "plain Prefect, per step", "ms"),
            ("raw_per_step_ms", "raw subprocess.run, per step", "ms"),
            ("ratio_vs_prefect", "Orchestra / plain Prefect", "x"),
            ("ratio_vs_raw", "Orchestra / raw", "x"),
            ("orchestra_agent_step_ms", "Orchestra: agent process per step (result.json)", "ms"),
            ("orchestra_orchestration_per_step_ms", "Orchestra: the rest, per step", "ms"),
            ("prefect_agent_step_ms", "plain Prefect: subprocess.run per step", "ms"),
            ("prefect_overhead_per_step_ms", "plain Prefect minus raw, per step", "ms"),
            ("orchestra_cycle_s", "Orchestra cycles (wall)", "s"),
            ("prefect_run_s", "plain Prefect runs (wall)", "s"),
            ("raw_run_s", "raw runs (wall)", "s"),
            ("warmup_cycle_s", "warm-up cycle incl. API start (not counted)", "s"),
        ),
    ),
    Bench(
        name="spread",
        module="bench.bench_spread",
        title="Spread of cycle walls (no 2-second ticks)",
        what=(
            "5 real `infinite-orchestra` cycles of 20 tasks x 4 steps of `bench/fast_agent.py`"
            " (process runtime), one after the other after a 1-task warm-up, on Prefect's"
            " ephemeral API and on the project's own `prefect server start` (what `python -m"
            " flows.run` uses). Spread = (slowest - fastest) / median. The 503 'database is"
            " locked' answers the SQLite-backed API gave are counted: Prefect's client used to"
            " sleep 2 s on each (`orchestra/prefect/backoff.py`: now 0.1 s, then 0.4 s)."
        ),
        call=lambda m: m.run(20, 5),
        metric="worst_spread",
        target_text="spread ≤ 10 % of the median, on both APIs",
        passes=lambda v: v <= 0.10,
        unit="",
    ),
    Bench(
        name="parallel",
        module="bench.bench_parallel",
        title="Parallel throughput (workflows.infinite_orchestra.parallel)",
        what=(
            "8 tasks x 4 steps whose agent sleeps 5 s (`bench/fast_agent.py`,"
            " `FAST_AGENT_SLEEP=5`), process runtime, at parallel k = 1, 2, 4, 8; on the ephemeral"
            " SQLite API and on a standalone `prefect server` on a local Postgres. Ideal ="
            " ceil(8/k) x one task + the cycle's fixed start-up, both from a one-task cycle."
        ),
        call=lambda m: m.run(),
        metric="ratio_k4_postgres",
        target_text="wall / ideal ≤ 1.25 at k = 4 (Postgres)",
        passes=lambda v: v <= 1.25,
        unit="x",
    ),
    Bench(
        name="fixedcost",
        module="bench.bench_parallel",
        title="Fixed cost per task",
        what=(
            "Tasks of 4 steps of an agent that exits at once, k = 1: what one more task costs"
            " ((wall of a 10-task cycle - wall of a 1-task cycle) / 9: the cycle's own start-up,"
            " paid once per cycle, is not a per-task cost), against the bare floor (the same"
            " `git clone --local`, 4 agent processes, commit and fetch, without Prefect), with"
            " the subflows' flow-run heartbeat off (Orchestra's default) and on; SQLite"
            " (ephemeral) and Postgres (standalone server). The 10-task cycle's wall / 10 is"
            " shown too."
        ),
        call=lambda m: m.run_fixed(),
        metric="postgres_over_floor_s",
        target_text="≤ 0.5 s per task on top of the floor (Postgres)",
        passes=lambda v: v <= 0.5,
        unit="s",
    ),
    Bench(
        name="fanout",
        module="bench.bench_fanout",
        title="Fan-out over pool workers (dispatch: pool)",
        what=(
            "8 tasks x 4 steps whose agent sleeps 5 s (`bench/fast_agent.py`, the coder writes a"
            " file: each task pushes a branch the cycle fetches), `dispatch: pool`, `parallel: 4`,"
            " against a Prefect server and worker containers (`prefect worker start --limit 2`,"
            " each limited to one core: `docker run --cpus 1`, the stand-in for a host of its"
            " own) on a private Docker network (tests/support/pool_cluster.py): 2 workers"
            " against 1."
        ),
        call=lambda m: m.run(),
        metric="ratio",
        target_text="2 workers / 1 worker ≤ 0.6",
        passes=lambda v: v <= 0.6,
        unit="x",
        rows=(
            ("one_worker_s", "1 worker (wall)", "s"),
            ("two_workers_s", "2 workers (wall)", "s"),
            ("ratio", "2 workers / 1 worker", "x"),
        ),
    ),
    Bench(
        name="first_step",
        module="bench.bench_first_step",
        title="Time to the first step (live UI server)",
        what=(
            "`python -m flows.run --plan-only` on the demo project (scripted agent, process"
            " runtime, empty queue: the planner's step is the first), from spawning the command"
            " to its step-start line; the run's UI link is printed before it. warm: the"
            " Prefect server (the user-level one) already runs; cold: it does not (the command"
            " starts it, database kept); new project: a project's first cycle, the server up;"
            " fresh: a new user's first cycle (no database yet). Compared with"
            " `python -c 'import prefect'`; medians of the runs listed."
        ),
        call=lambda m: m.run(),
        metric="warm_first_step_s",
        target_text="first step ≤ 3 s after the command, server up",
        passes=lambda v: v <= 3,
        unit="s",
        rows=(
            ("warm_first_step_s", "warm: first step starts", "s"),
            ("warm_link_s", "warm: UI link printed", "s"),
            ("warm_runs_s", "warm: runs", "s"),
            ("warm_ratio_vs_import", "warm / import prefect", "x"),
            ("cold_first_step_s", "cold (server stopped): first step starts", "s"),
            ("cold_link_s", "cold: UI link printed", "s"),
            ("cold_runs_s", "cold: runs", "s"),
            ("cold_ratio_vs_import", "cold / import prefect", "x"),
            ("cold_result", "cold: target, result", ""),
            ("new_project_first_step_s", "new project, server up: first step starts", "s"),
            ("new_project_runs_s", "new project: runs", "s"),
            ("new_project_ratio_vs_import", "new project / import prefect", "x"),
            ("new_project_result", "new project: target, result", ""),
            ("fresh_first_step_s", "fresh (a new user: no database yet): first step starts", "s"),
            ("fresh_runs_s", "fresh: runs", "s"),
            ("fresh_ratio_vs_import", "fresh / import prefect", "x"),
            ("import_prefect_s", "`python -c 'import prefect'`", "s"),
        ),
    ),
    Bench(
        name="docker",
        module="bench.bench_docker",
        title="Per-step overhead of the Docker runtime",
        what=(
            "`true` in `orchestra-test:latest`: (a) `docker run --rm`, (b) the bare docker SDK"
            " create/start/wait/remove, (c) `DockerRuntime.run()` with the default sandbox;"
            " rotated rounds, medians. Plus N concurrent steps until the per-step time doubles."
        ),
        call=lambda m: m.run(),
        metric="ratio_step_vs_sdk",
        target_text="Docker step / bare SDK ≤ 1.10",
        passes=lambda v: v <= 1.10,
        unit="x",
    ),
    Bench(
        name="egress",
        module="bench.bench_egress",
        title="Egress by allowlist: the proxy's cost",
        what=(
            "In one step container, 100 sequential HTTP GETs (a new connection each) to a server"
            " on the host through the egress proxy (`network: egress`, the default) vs directly"
            " (`network: bridge`), timed inside the container, medians over 5 rotated rounds;"
            " and `true` as a whole step on each network (the sidecar and network per step)."
        ),
        call=lambda m: m.run(),
        metric="added_ms_per_request",
        target_text="the proxy adds ≤ 5 ms per model request",
        passes=lambda v: v <= 5,
        unit="ms",
        rows=(
            ("request_egress_ms", "one request through the proxy", "ms"),
            ("request_direct_ms", "one request direct (bridge)", "ms"),
            ("added_ms_per_request", "added per request", "ms"),
            ("step_egress_s", "a `true` step on egress, runtime alone (network + sidecar)", "s"),
            ("step_egress_kept_s", "a `true` step on egress, kept runtime (a flow run's)", "s"),
            ("step_bridge_s", "a `true` step on bridge", "s"),
            ("added_s_per_step", "added per step, runtime alone", "s"),
            ("added_s_per_kept_step", "added per step, kept runtime", "s"),
        ),
    ),
    Bench(
        name="mergequeue",
        module="bench.bench_mergequeue",
        title="Merge queue cost per landed task",
        what=(
            "8 results made from one base land one after another through the merge queue"
            " (`git.integration: merge`): each after the first is replayed onto the moved base"
            " (`git merge-tree`), verified again (byte-compiling 300 files) and fast-forwarded;"
            " against that verify command alone."
        ),
        call=lambda m: m.run(8),
        metric="ratio",
        target_text="a replayed landing ≤ 1.5x the verify alone",
        passes=lambda v: v <= 1.5,
        unit="x",
        rows=(
            ("land_replayed_s", "landing with replay + verify again (median)", "s"),
            ("verify_alone_s", "the verify alone (median)", "s"),
            ("queue_added_s", "added by the queue per landed task", "s"),
            ("land_first_s", "landing without a replay (fast-forward)", "s"),
        ),
    ),
    Bench(
        name="workspace",
        module="bench.bench_workspace",
        title="Per-task workspace cost",
        what=(
            "Creating one task workspace (host git dir borrowing the user's objects + the agent's"
            " .git) on a repository with ~350 MiB of history, vs `git clone --local` + checkout"
            " and `git worktree add`; new disk excludes hard links into the user's `.git`."
        ),
        call=lambda m: m.run(),
        metric="time_ratio",
        target_text="≤ 1.5x the faster of clone --local / worktree add; disk < 5 % of .git",
        passes=lambda v: v <= 1.5,
        unit="x",
        rows=(
            ("orchestra_s", "Orchestra workspace (wall, median)", "s"),
            ("clone_s", "clone --local + checkout", "s"),
            ("worktree_s", "worktree add", "s"),
            ("disk_pct", "new disk per task, % of .git", "%"),
        ),
    ),
    Bench(
        name="aider",
        module="bench.bench_aider",
        title="Per-step cost of a real aider: Docker against the process runtime",
        what=(
            "One coder step of aider 0.86.2 against the stand-in model API, on a fresh clone of"
            " the example repository: the process runtime (aider from .venv/tools/aider) and the"
            " worker image orchestra-worker:latest; rotated rounds, medians."
        ),
        call=lambda m: m.run(),
        metric="ratio_docker_vs_process",
        target_text="Docker step / process step ≤ 1.5",
        passes=lambda v: v <= 1.5,
        unit="x",
        rows=(
            ("process_step_s", "process runtime, one aider step", "s"),
            ("docker_step_s", "Docker runtime, one aider step", "s"),
            ("docker_extra_s", "what Docker adds per step", "s"),
        ),
    ),
    Bench(
        name="clis",
        module="bench.bench_clis",
        title="Per-step cost of a real Claude Code and Codex: Docker against the process runtime",
        what=(
            "One coder step of Claude Code 2.1.327 and of Codex 0.163.0 (both from PyPI), each"
            " against its stand-in model API playing the scripted session (edit, run the tests,"
            " write the handoff), on a fresh clone of the example repository: the process runtime"
            " (.venv/tools) and the worker image orchestra-worker:latest; rotated rounds,"
            " medians. The floor: the CLI run directly on a one-turn prompt, no Orchestra."
        ),
        call=lambda m: m.run(),
        metric="ratio_docker_vs_process",
        target_text="Docker step / process step ≤ 1.25 for each CLI",
        passes=lambda v: v <= 1.25,
        unit="x",
        rows=(
            ("claude_floor_s", "Claude Code alone, one turn (the floor)", "s"),
            ("claude_process_step_s", "process runtime, one Claude Code step", "s"),
            ("claude_docker_step_s", "Docker runtime, one Claude Code step", "s"),
            ("claude_ratio", "Claude Code: Docker / process", "x"),
            ("codex_floor_s", "Codex alone, one turn (the floor)", "s"),
            ("codex_process_step_s", "process runtime, one Codex step", "s"),
            ("codex_docker_step_s", "Docker runtime, one Codex step", "s"),
            ("codex_ratio", "Codex: Docker / process", "x"),
        ),
    ),
    Bench(
        name="soak",
        module="bench.bench_soak",
        title="Soak: back-to-back cycles",
        what=(
            "Back-to-back cycles in one process with a fast scripted agent on the process"
            " runtime: RSS and open descriptors at start and end, leftovers, disk used."
        ),
        call=lambda m: m.run(),
        metric="rss_growth_pct",
        target_text="RSS growth < 10 %, descriptors flat, no leftovers",
        passes=lambda v: v < 10,
        unit="%",
    ),
    Bench(
        name="governor",
        module="bench.bench_governor",
        title="Spending governor and failover under parallel: 4",
        what=(
            "Two cycles of the real Codex CLI against the stand-in Responses API (tokens priced"
            " from `pricing:`), parallel: 4, 8 tasks each: one with limits.max_cost_per_day_usd"
            " (how far spending ended from the cap, in steps of the dearest step), one where the"
            " first provider starts answering 529 after 12 requests and every worker has a"
            " fallback on a second provider (tasks archived, attempts lost); then the same day"
            " cap with the real Claude Code against the stand-in Messages API, which streams its"
            " usage, so steps are also stopped mid-way (spent against the cap, steps stopped"
            " mid-step)."
        ),
        call=lambda m: m.run(),
        metric="cap_distance_in_steps",
        target_text="spending ends within one step's cost of the cap; 0 attempts lost",
        passes=lambda v: v <= 1,
        unit="steps",
        rows=(
            ("cap_usd", "day cap", "USD"),
            ("spent_usd", "spent when the cycle stopped", "USD"),
            ("dearest_step_usd", "dearest step", "USD"),
            ("outage_archived", "outage: tasks archived of 8", ""),
            ("steps_failed_over", "outage: steps that failed over", ""),
            ("claude_cap_usd", "Claude Code: day cap", "USD"),
            ("claude_spent_usd", "Claude Code: spent when the cycle stopped", "USD"),
            ("claude_dearest_request_usd", "Claude Code: dearest model request", "USD"),
            ("claude_distance_in_steps", "Claude Code: distance from the cap", "steps"),
            ("claude_stopped_mid_step", "Claude Code: steps stopped mid-step", ""),
            ("attempts_lost", "attempts lost (both caps and outage)", ""),
        ),
    ),
    Bench(
        name="week",
        module="bench.bench_week",
        title="A week in an hour: scheduled cycles on a real prefect server",
        what=(
            "BENCH_WEEK_CYCLES (default 1000) scheduled cycles, one every BENCH_WEEK_INTERVAL_S"
            " (default 3 s) as a schedule starts them, against `prefect server start`,"
            " mixing successes, task failures and injected infrastructure failures, with short"
            " retention limits: Prefect database, .orchestra/, RSS and fds over time, and task"
            " attempts taken by non-task failures (BENCH_WEEK_BUDGET_S stops it early)."
        ),
        call=lambda m: m.run(
            int(os.environ.get("BENCH_WEEK_CYCLES", "1000")),
            budget_s=float(os.environ.get("BENCH_WEEK_BUDGET_S", "0")),
            interval_s=float(os.environ.get("BENCH_WEEK_INTERVAL_S", str(m.INTERVAL_S))),
        ),
        metric="max_growth_pct",
        target_text="each size grows < 10 % from the middle sample to the end; 0 attempts lost",
        passes=lambda v: v < 10,
        unit="%",
    ),
    Bench(
        name="userserver",
        module="bench.bench_userserver",
        title="The user-level Prefect server: idle cost, and cycles of projects sharing it",
        what=(
            "Idle: CPU (% of one core over 60 s, after 20 s of settling) and RSS of a fresh"
            " `prefect server start` on SQLite with Prefect's defaults, with Orchestra's"
            " (`QUIET_SERVICES` off: foreman, late runs) and with every service off (the floor)."
            " Walls: `python -m flows.run` of 20 tasks x 4 steps of `bench/fast_agent.py`"
            " (process runtime), server up, after a 1-task warm-up: a project on a server of its"
            " own and one project alone on the user-level server (interleaved), then two"
            " projects at once on it; 3 runs each (6 walls for two at once); the 503 'database"
            " is locked' answers the server logged, and their routes."
        ),
        call=lambda m: m.run(),
        metric="shared_vs_own",
        target_text="one project on the user-level server / on its own ≤ 1.1",
        passes=lambda v: v <= 1.1,
        unit="x",
        rows=(
            ("idle_cpu_default_pct", "idle CPU, Prefect's defaults", "%"),
            ("idle_cpu_orchestra_pct", "idle CPU, Orchestra's services", "%"),
            ("idle_cpu_floor_pct", "idle CPU, every service off (floor)", "%"),
            ("idle_rss_default_mb", "idle RSS, Prefect's defaults", "MB"),
            ("idle_rss_orchestra_mb", "idle RSS, Orchestra's services", "MB"),
            ("own_median_s", "cycle on a server of its own (median)", "s"),
            ("alone_median_s", "cycle on the user-level server, alone (median)", "s"),
            ("together_median_s", "cycle on the user-level server, two projects at once", "s"),
            ("shared_vs_own", "user-level alone / own", "x"),
            ("together_vs_own", "user-level two at once / own", "x"),
        ),
    ),
)


def run_bench(bench: Bench) -> Outcome:
    """Import and run one bench; never raises for the bench's own failure."""
    print(f"== {bench.name}: running {bench.module} ...", file=sys.stderr, flush=True)
    try:
        module = importlib.import_module(bench.module)
    except Exception as exc:
        return Outcome(bench, "not run", reason=f"{bench.module} cannot be imported: {exc!r}")
    started = time.perf_counter()
    try:
        result = bench.call(module)
    except Exception as exc:
        traceback.print_exc()
        reason = f"{bench.module}.run() raised {exc!r}"
        return Outcome(bench, "not run", time.perf_counter() - started, reason=reason)
    seconds = time.perf_counter() - started
    value = result.get(bench.metric)
    if not isinstance(value, int | float):
        reason = f"result has no number under {bench.metric!r}"
        return Outcome(bench, "not run", seconds, result, reason)
    status = "PASS" if bench.passes(float(value)) else "MISS"
    if result.get("status") in {"PASS", "MISS"} and status == "PASS":
        status = str(result["status"])  # the bench checks more than its headline number
    report = getattr(module, "report", None)
    details = report(result) if callable(report) else ""
    return Outcome(bench, status, seconds, result, details=details)


# --- machine -----------------------------------------------------------------------------------


def _proc_field(path: str, key: str) -> str | None:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == key:
            return value.strip()
    return None


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head


def load_average() -> str:
    """The 1/5/15-minute load averages (other work on the machine skews timings)."""
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    uname = platform.uname()
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    ram = "unknown"
    if mem_kb and mem_kb.split()[0].isdigit():
        ram = f"{int(mem_kb.split()[0]) / 1024 / 1024:.1f} GiB"
    return {
        "os": f"{uname.system} {uname.release} {uname.version} {uname.machine}",
        "cpu": _proc_field("/proc/cpuinfo", "model name") or uname.processor or "unknown",
        "cores": str(os.cpu_count() or "unknown"),
        "ram": ram,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "prefect": _version("prefect"),
        "commit": _git_commit(),
    }


# --- report ------------------------------------------------------------------------------------


def _fmt(value: Any, unit: str) -> str:
    if isinstance(value, list):
        return ", ".join(_fmt(v, "") for v in value) + (f" {unit}" if unit else "")
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 0.01 else f"{value:,.3f}".rstrip("0").rstrip(".")
    else:
        text = str(value)
    if unit == "x":
        return f"{text}x"
    return f"{text} {unit}".strip()


def earlier_sections(report: str) -> dict[str, tuple[str, str]]:
    """From an earlier report: bench name → (its summary row, its section), each section
    stamped with the date and commit of the run that measured it."""
    date = re.search(r"^- Date: (.+)$", report, re.M)
    commit = re.search(r"^- Commit: (\S+)", report, re.M)
    stamp = f"{date.group(1) if date else '?'}, commit {commit.group(1) if commit else '?'}"
    rows: dict[str, str] = {}
    for m in re.finditer(r"^\| (\w+) \| (?!—).*\| (?:PASS|MISS)[^|]*\|$", report, re.M):
        rows.setdefault(m.group(1), m.group(0).removesuffix(" (earlier run, see its section) |"))
    kept: dict[str, tuple[str, str]] = {}
    parts = re.split(r"^(?=## )", report, flags=re.M)
    for part in parts:
        head = re.match(r"## .*\(`(\w+)`\)\s*$", part.splitlines()[0] if part else "")
        if head and head.group(1) in rows and "**Not run**" not in part:
            body = part.rstrip()
            if not re.search(r"_Measured|run alone|Run by hand", body):
                body += f"\n\n_Measured in the run of {stamp}._"
            kept[head.group(1)] = (rows[head.group(1)], body)
    return kept


def render(
    outcomes: Sequence[Outcome],
    info: dict[str, str],
    when: dt.datetime,
    kept: dict[str, tuple[str, str]] | None = None,
) -> str:
    """The markdown report; benches not run this time keep their ``kept`` earlier section."""
    kept = kept or {}
    lines = [
        "# Benchmarks",
        "",
        "Written by `python -m bench` (`make bench`); do not edit by hand.",
        "",
        f"- Date: {when.strftime('%Y-%m-%d %H:%M')} UTC",
        f"- Machine: {info['os']}",
        f"- CPU: {info['cpu']}, {info['cores']} cores; RAM {info['ram']}",
        f"- Python {info['python']}, Prefect {info['prefect']}",
        f"- Commit: {info['commit']} (plus uncommitted work, if any)",
        f"- Load average (1/5/15 min): {info['load_before']} before, {info['load_after']} after",
        "",
        "## Summary",
        "",
        "| Bench | Measured | Target | Result |",
        "|---|---|---|---|",
    ]
    for out in outcomes:
        b = out.bench
        if out.status == "not run" and b.name in kept:
            lines.append(kept[b.name][0].rstrip(" |") + " (earlier run, see its section) |")
            continue
        measured = _fmt(out.result[b.metric], b.unit) if out.status != "not run" else "—"
        result = out.status if out.status != "not run" else f"not run: {out.reason}"
        lines.append(f"| {b.name} | {measured} | {b.target_text} | {result} |")
    for out in outcomes:
        b = out.bench
        if out.status == "not run" and b.name in kept:
            lines += ["", kept[b.name][1]]
            continue
        lines += ["", f"## {b.title} (`{b.name}`)", "", b.what, ""]
        if out.status == "not run":
            lines += [f"**Not run**: {out.reason}"]
            continue
        if out.details:  # a bench's own headings sit under its section's (one ## per bench)
            lines += [re.sub(r"^## ", "### ", out.details.strip(), flags=re.M), ""]
        if not b.rows:
            lines += [f"**Result: {out.status}** ({_fmt(out.result[b.metric], b.unit)})"]
            lines += ["", f"Bench wall time: {out.seconds:.1f} s."]
            continue
        lines += ["| Metric | Value |", "|---|---|"]
        for key, label, unit in b.rows:
            if key in out.result:
                lines.append(f"| {label} | {_fmt(out.result[key], unit)} |")
        lines += [
            f"| **Target** | {b.target_text} |",
            f"| **Result** | **{out.status}** ({_fmt(out.result[b.metric], b.unit)}) |",
            "",
            f"Bench wall time: {out.seconds:.1f} s.",
        ]
    lines += [
        "",
        "## How to reproduce",
        "",
        "```sh",
        "make bench                          # = .venv/bin/python -m bench",
        ".venv/bin/python -m bench --only overhead,docker   # some (the others kept as they were)",
        "BENCH_PROFILE=1 .venv/bin/python bench/bench_overhead.py   # + cProfile of one cycle",
        "```",
        "",
        "Timings on a small shared machine move by 10-20 % between runs (the overhead bench shows"
        " every run it took the median of); compare ratios, not absolute times.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    names = [b.name for b in BENCHES]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        type=lambda text: [n for n in text.split(",") if n],
        default=[],
        help=f"comma-separated benches to run (of {', '.join(names)}); the others keep their"
        " section from the existing report, stamped with its date and commit",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown report")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}; choose from {', '.join(names)}")
    kept = earlier_sections(args.output.read_text("utf-8")) if args.output.exists() else {}
    when = dt.datetime.now(dt.UTC)
    load_before = load_average()
    outcomes = []
    for bench in BENCHES:
        if args.only and bench.name not in args.only:
            outcomes.append(Outcome(bench, "not run", reason="not in --only"))
            continue
        outcomes.append(run_bench(bench))
    info = machine() | {"load_before": load_before, "load_after": load_average()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(outcomes, info, when, kept), encoding="utf-8")
    summary = {o.bench.name: {"status": o.status, "reason": o.reason, **o.result} for o in outcomes}
    print(json.dumps({"machine": info, "benches": summary}, indent=2))
    for o in outcomes:
        print(f"{o.bench.name}: {o.status}{' (' + o.reason + ')' if o.reason else ''}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

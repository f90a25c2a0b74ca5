"""Soak: many back-to-back ``infinite-orchestra`` cycles in one process; does anything pile up?

One Python process runs ``cycles`` cycles of flows.cycle on a temporary git project whose five
workers all run ``bench/fast_agent.py`` natively (``agent: command``, ``runtime: process``; the
project and its queue come from bench.bench_overhead's helpers). Before every cycle one valid task
file goes into the queue, so the planner never runs and each cycle runs exactly one task
(``max_tasks=1``) through plan → implement → review → fix in its own clone.

After ``warmup`` cycles (Prefect's ephemeral API server is up, imports and caches are warm) the
process's RSS (``VmRSS``) and open fds are sampled, then a few times more, and at the end.
At the end it also counts what is left behind: child processes still alive (the ephemeral Prefect
server, a child by design, is reported separately), containers labelled
``orchestra.managed=true``, clones under ``.orchestra/worktrees`` and the disk ``.orchestra/``
uses. Targets: RSS growth < 10 % from the first sample to the last, open fds flat.

``BENCH_SOAK_TRACE=1`` (or ``run(trace=True)``) also runs tracemalloc from the first sample on:
the result then holds, per later sample, the Python memory allocated since that first sample and
still alive (``traced_kb``) and the lines whose live allocations grew most since the previous
sample, plus the tracebacks of the biggest survivors (about 4x slower, and RSS then includes
tracemalloc's own bookkeeping, so read RSS from an untraced run).

Run: ``python bench/bench_soak.py [cycles]`` (prints JSON, then the markdown section).
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/bench_soak.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_overhead import make_project, prepare_prefect_env

TARGET_RSS_GROWTH_PCT = 10.0
#: fds may end at most this many above the first sample ("flat").
FD_TOLERANCE = 0
WARMUP_CYCLES = 10
#: Samples between the first (after warm-up) and the last one.
INNER_SAMPLES = 6
STEPS = 4
#: Pause before the first and the last sample: Prefect's background log/event workers and the
#: API server finish the previous cycle's work, so both samples see a quiet process.
SETTLE_SECONDS = 2.0
TRACE_TOP = 12


# --- process facts --------------------------------------------------------------------------------


def rss_kb(pid: int | str = "self") -> int | None:
    """VmRSS of a process in kB (None once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def open_fds() -> int:
    """Open fds, counted as ``len(os.listdir('/proc/self/fd'))`` (includes the listing's own)."""
    return len(os.listdir("/proc/self/fd"))  # noqa: PTH208 - the defined measurement


def fd_targets() -> list[str]:
    """What each open fd points at (``socket:[…]``, ``pipe:[…]``, a path, …)."""
    targets = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            targets.append(str(fd.readlink()))
        except OSError:
            continue  # the fd listing itself, closed meanwhile
    return targets


def _fd_kind(target: str) -> str:
    if target.startswith(("socket:", "pipe:")):
        return target.split(":", 1)[0]
    if target.startswith("anon_inode:"):
        return target
    return "file"


def fd_kinds(targets: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(_fd_kind(t) for t in targets).items()))


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def children(ppid: int) -> list[dict[str, Any]]:
    """Processes whose parent is ``ppid`` (zombies included), from /proc/*/stat."""
    found = []
    for entry in (p.name for p in Path("/proc").iterdir()):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        # "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == ppid:
            pid = int(entry)
            found.append({"pid": pid, "state": fields[0], "cmdline": _cmdline(pid)[:200]})
    return found


def prefect_server_pids() -> set[int]:
    """The ephemeral API server(s) Prefect started in this process."""
    try:
        from prefect.server.api.server import SubprocessASGIServer
    except ImportError:
        return set()
    pids = set()
    for server in SubprocessASGIServer._instances.values():
        proc = getattr(server, "server_process", None)
        if proc is not None and proc.poll() is None:
            pids.add(proc.pid)
    return pids


def _is_prefect_server(child: dict[str, Any], known: set[int]) -> bool:
    return child["pid"] in known or "prefect.server.api.server:create_app" in child["cmdline"]


def processes_mentioning(text: str) -> list[dict[str, Any]]:
    """Any process (not this one) whose command line names ``text``: agents that outlived their
    parent and were re-parented away would not show up as children."""
    me = os.getpid()
    found = []
    for entry in (p.name for p in Path("/proc").iterdir()):
        if entry.isdigit() and int(entry) != me and text in (cmd := _cmdline(int(entry))):
            found.append({"pid": int(entry), "cmdline": cmd[:200]})
    return found


def orchestra_containers(project_id: str) -> dict[str, int | None]:
    """Containers labelled orchestra.managed=true: all of them, and this project's (0 without a
    docker CLI; None when the engine does not answer)."""
    docker = shutil.which("docker")
    if docker is None:
        return {"all": 0, "project": 0}

    def count(*labels: str) -> int | None:
        args = [docker, "ps", "-aq"]
        for label in labels:
            args += ["--filter", f"label={label}"]
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return len(out.stdout.split())

    return {
        "all": count("orchestra.managed=true"),
        "project": count("orchestra.managed=true", f"orchestra.project={project_id}"),
    }


def du_kb(path: Path) -> int:
    """Disk used under ``path`` in kB, as ``du -sk`` reports it."""
    if not path.exists():
        return 0
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


# --- the soak -------------------------------------------------------------------------------------


def queue_task(root: Path, number: int) -> Path:
    """One valid task file (``# Goal`` and ``# Acceptance criteria``) in the project's queue."""
    queue = root / ".orchestra" / "queue"
    queue.mkdir(parents=True, exist_ok=True)
    path = queue / f"task-{number}.md"
    path.write_text(
        f"# Goal\n\nSoak task {number}: do nothing, quickly.\n\n"
        "# Acceptance criteria\n\n- the agent writes a handoff\n",
        encoding="utf-8",
    )
    return path


def one_cycle(root: Path, number: int) -> float:
    """Queue one task and run one cycle; wall seconds. Raises unless that task is done."""
    from flows.cycle import infinite_orchestra

    queue_task(root, number)
    started = time.perf_counter()
    state = infinite_orchestra(project=str(root), max_tasks=1, return_state=True)
    wall = time.perf_counter() - started
    summary = root / ".orchestra" / "runs" / str(state.state_details.flow_run_id) / "cycle.json"
    try:
        tasks = json.loads(summary.read_text(encoding="utf-8")).get("tasks", [])
    except (OSError, ValueError):
        tasks = []
    if not state.is_completed() or [t.get("status") for t in tasks] != ["done"]:
        msg = f"cycle {number} did not run its task: {state.type.value} {state.message}"
        raise RuntimeError(msg)
    return wall


def sample(cycle: int, started: float, server: set[int]) -> dict[str, Any]:
    gc.collect()
    targets = fd_targets()
    server_rss = sum(rss_kb(pid) or 0 for pid in server)
    return {
        "cycle": cycle,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "rss_kb": rss_kb(),
        "fds": open_fds(),
        "fd_kinds": fd_kinds(targets),
        "gc_objects": len(gc.get_objects()),
        "threads": sum(1 for _ in Path("/proc/self/task").iterdir()),
        "server_rss_kb": server_rss or None,
        "_targets": targets,
    }


def trace_growth(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int = TRACE_TOP
) -> list[str]:
    """The lines whose live allocations grew most between two snapshots."""
    keep = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
    ]
    stats = after.filter_traces(keep).compare_to(before.filter_traces(keep), "lineno")
    return [str(s) for s in stats[:top] if s.size_diff > 0]


def trace_owners(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int = 5
) -> list[str]:
    """Full tracebacks of the biggest growth, to see which code holds on to it."""
    stats = after.compare_to(before, "traceback")
    out = []
    for stat in stats[:top]:
        if stat.size_diff <= 0:
            continue
        frames = "\n    ".join(stat.traceback.format(limit=12))
        out.append(
            f"+{stat.size_diff / 1024:.1f} KiB in {stat.count_diff:+d} blocks:\n    {frames}"
        )
    return out


def _sample_points(warmup: int, cycles: int, inner: int) -> list[int]:
    measured = cycles - warmup
    points = {warmup + round(measured * i / (inner + 1)) for i in range(1, inner + 1)}
    return sorted(p for p in points if warmup < p < cycles)


def run(
    cycles: int = 200, *, warmup: int = WARMUP_CYCLES, trace: bool | None = None
) -> dict[str, Any]:
    """Run ``cycles`` one-task cycles back to back; memory, fds and leftovers."""
    if trace is None:
        trace = os.environ.get("BENCH_SOAK_TRACE") == "1"
    warmup = min(warmup, max(1, cycles // 2))
    if cycles < warmup + 1:
        msg = f"cycles must be more than the {warmup} warm-up cycles, got {cycles}"
        raise ValueError(msg)
    prepare_prefect_env()
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "WARNING"
    points = set(_sample_points(warmup, cycles, INNER_SAMPLES))
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        root = make_project(Path(tmp) / "project", STEPS)
        from orchestra.project import project_id_for

        project_id = project_id_for(root)
        started = time.perf_counter()
        walls: list[float] = []
        samples: list[dict[str, Any]] = []
        traces: list[dict[str, Any]] = []
        snapshot: tracemalloc.Snapshot | None = None
        first_snapshot: tracemalloc.Snapshot | None = None
        server: set[int] = set()
        for number in range(1, cycles + 1):
            walls.append(one_cycle(root, number))
            if number not in points and number not in (warmup, cycles):
                continue
            if number in (warmup, cycles):
                time.sleep(SETTLE_SECONDS)
            server = server or prefect_server_pids()
            samples.append(sample(number, started, server))
            print(
                f"bench_soak: cycle {number}/{cycles}: rss {samples[-1]['rss_kb']} kB, "
                f"fds {samples[-1]['fds']}, {samples[-1]['elapsed_s']} s",
                file=sys.stderr,
                flush=True,
            )
            if trace:
                if snapshot is None:
                    tracemalloc.start(25)
                    snapshot = first_snapshot = tracemalloc.take_snapshot()
                    continue
                current = tracemalloc.take_snapshot()
                traced_kb = tracemalloc.get_traced_memory()[0] // 1024
                top = trace_growth(snapshot, current)
                traces.append({"cycle": number, "traced_kb": traced_kb, "top": top})
                snapshot = current
        total_s = time.perf_counter() - started
        owners: list[str] = []
        if trace and snapshot is not None and first_snapshot is not None:
            owners = trace_owners(first_snapshot, snapshot)
            tracemalloc.stop()

        time.sleep(0.5)  # a step's process group that is still exiting gets its moment
        kids = children(os.getpid())
        known = prefect_server_pids() | server
        server_kids = [k for k in kids if _is_prefect_server(k, known)]
        leftover = [k for k in kids if not _is_prefect_server(k, known)]
        strays = processes_mentioning(str(root))
        worktrees = root / ".orchestra" / "worktrees"
        clones = sorted(p.name for p in worktrees.iterdir()) if worktrees.is_dir() else []
        orch = root / ".orchestra"
        disk = {p.name: du_kb(p) for p in sorted(orch.iterdir())}
        disk_total_kb = du_kb(orch)
        containers = orchestra_containers(project_id)

    first, last = samples[0], samples[-1]
    new_targets = sorted((Counter(last["_targets"]) - Counter(first["_targets"])).elements())
    for s in samples:
        del s["_targets"]
    measured_s = sum(walls[warmup:])
    growth = (last["rss_kb"] - first["rss_kb"]) / first["rss_kb"] * 100
    cycles_per_min = (cycles - warmup) / measured_s * 60
    result: dict[str, Any] = {
        "cycles": cycles,
        "warmup_cycles": warmup,
        "steps_per_task": STEPS,
        "rss_start_mib": round(first["rss_kb"] / 1024, 1),
        "rss_end_mib": round(last["rss_kb"] / 1024, 1),
        "rss_growth_pct": round(growth, 2),
        "rss_kb_per_cycle": round((last["rss_kb"] - first["rss_kb"]) / (cycles - warmup), 1),
        "target_rss_growth_pct": TARGET_RSS_GROWTH_PCT,
        "fds_start": first["fds"],
        "fds_end": last["fds"],
        "fd_growth": last["fds"] - first["fds"],
        "fds_new_at_end": new_targets[:20],
        "leftover_processes": len(leftover),
        "leftover_process_list": leftover,
        "stray_processes_naming_project": strays,
        "prefect_server_processes": server_kids,
        "server_rss_start_mib": _mib(first["server_rss_kb"]),
        "server_rss_end_mib": _mib(last["server_rss_kb"]),
        "leftover_containers": containers["project"],
        "orchestra_containers_on_host": containers["all"],
        "leftover_worktrees": len(clones),
        "worktree_names": clones[:20],
        "orchestra_disk_mib": round(disk_total_kb / 1024, 2),
        "orchestra_disk_kb_by_entry": disk,
        "disk_kb_per_cycle": round(disk_total_kb / cycles, 1),
        "cycles_per_min": round(cycles_per_min, 2),
        "cycle_s_median": round(sorted(walls[warmup:])[(cycles - warmup) // 2], 3),
        "cycle_s_first_warm_last": [
            round(walls[0], 2),
            round(walls[warmup], 2),
            round(walls[-1], 2),
        ],
        "total_s": round(total_s, 1),
        "samples": samples,
    }
    result["rss_pass"] = growth < TARGET_RSS_GROWTH_PCT
    result["fds_pass"] = result["fd_growth"] <= FD_TOLERANCE
    result["clean_pass"] = not leftover and not strays and not clones and not containers["project"]
    result["status"] = (
        "PASS" if result["rss_pass"] and result["fds_pass"] and result["clean_pass"] else "MISS"
    )
    if trace:
        result["tracemalloc_growth"] = traces
        result["tracemalloc_owners"] = owners
    return result


def _mib(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


# --- report ---------------------------------------------------------------------------------------


def report(result: dict[str, Any]) -> str:
    """A markdown section for docs/benchmarks.md."""
    r = result
    ok = {True: "PASS", False: "MISS"}
    series = ", ".join(
        f"{s['cycle']}: {s['rss_kb'] / 1024:.1f} MiB / {s['fds']}" for s in r["samples"]
    )
    server = r["prefect_server_processes"]
    server_text = (
        f"{len(server)} (pid {', '.join(str(p['pid']) for p in server)}; RSS "
        f"{r['server_rss_start_mib']} → {r['server_rss_end_mib']} MiB)"
        if server
        else "0"
    )
    lines = [
        f"## Soak: {r['cycles']} cycles in one process (`soak`)",
        "",
        f"Method: {r['cycles']} back-to-back `infinite-orchestra` cycles in one Python process, each"
        f" with one queued task of {r['steps_per_task']} steps of `bench/fast_agent.py` on the"
        f" process runtime (own git clone per task, ephemeral Prefect API); RSS (`VmRSS`) and open"
        f" fds are sampled after {r['warmup_cycles']} warm-up cycles and at the end (after"
        f" `gc.collect()`), leftovers are counted after the last cycle.",
        "",
        "| Metric | Value |",
        "|---|---|",
        f"| RSS start → end | {r['rss_start_mib']} → {r['rss_end_mib']} MiB |",
        f"| RSS growth | {r['rss_growth_pct']} % ({r['rss_kb_per_cycle']} kB per cycle) |",
        f"| open fds start → end | {r['fds_start']} → {r['fds_end']} |",
        f"| samples (cycle: RSS / fds) | {series} |",
        f"| leftover child processes | {r['leftover_processes']} |",
        f"| stray processes naming the project | {len(r['stray_processes_naming_project'])} |",
        f"| Prefect ephemeral server (child by design) | {server_text} |",
        f"| leftover containers (orchestra.managed=true, this project) | "
        f"{r['leftover_containers']} |",
        f"| leftover worktrees | {r['leftover_worktrees']} |",
        f"| disk used by `.orchestra/` | {r['orchestra_disk_mib']} MiB"
        f" ({r['disk_kb_per_cycle']} kB per cycle) |",
        f"| cycles per minute (after warm-up) | {r['cycles_per_min']} |",
        f"| median cycle | {r['cycle_s_median']} s |",
        f"| total wall time | {r['total_s']} s |",
        f"| **Target** | RSS growth < {r['target_rss_growth_pct']:g} %; fds flat;"
        " no leftover processes, containers or worktrees |",
        f"| **Result** | **{r['status']}** (RSS {ok[r['rss_pass']]}, fds {ok[r['fds_pass']]},"
        f" leftovers {ok[r['clean_pass']]}) |",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    out = run(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    print(json.dumps(out, indent=2))
    print(report(out), file=sys.stderr)

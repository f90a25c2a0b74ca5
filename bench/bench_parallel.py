"""Benchmarks: parallel throughput, and the fixed cost of one task, on SQLite and on Postgres.

throughput  8 tasks x 4 steps whose agent sleeps 5 s (``bench/fast_agent.py`` with
            ``FAST_AGENT_SLEEP``, as a real agent waiting on a model), at parallel k = 1, 2, 4, 8.
            Each wall time is compared with the ideal ``ceil(8/k) x one task + fixed start-up``,
            both measured by a one-task cycle in the same process. Target: <= 1.25x at k = 4.
fixed cost  10 tasks x 4 steps of an agent that exits at once, k = 1: what one more task costs
            ((10-task cycle - 1-task cycle) / 9; the cycle's own start-up is paid once per cycle)
            on top of the bare floor (the same clone, 4 process runs, commit and fetch, no
            Prefect), with the subflows' flow-run heartbeat off (Orchestra's default) and on.
            The 10-task cycle's wall / 10 is reported next to it.
            Target on Postgres: <= 0.5 s per task on top of the floor.

Each backend runs in its own child process (``python -m bench.bench_parallel child BACKEND``):
``sqlite`` is the ephemeral API (Prefect's default), ``postgres`` a standalone ``prefect server``
on a local cluster (orchestra/prefect/postgres.py). Ratios are from one run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FAST_AGENT = REPO / "bench" / "fast_agent.py"
ROLES = {"plan": "architect", "implement": "coder", "review": "reviewer", "fix": "fixer"}
WORKERS = ("planner", "architect", "coder", "reviewer", "fixer")
TASKS = 8
KS = (1, 2, 4, 8)
SLEEP_S = 5.0
FIXED_TASKS = 10
TARGET_K4 = 1.25
TARGET_FIXED_S = 0.5


def make_project(root: Path, sleep_s: float) -> Path:
    """A git project whose workers run the fast agent natively, sleeping ``sleep_s`` per step."""
    root.mkdir(parents=True)
    command = json.dumps(
        [sys.executable, str(FAST_AGENT), "{prompt_file}", "{workspace}", "{output_dir}"]
    )
    lines = ["workers:"]
    for worker in WORKERS:
        lines += [
            f"  {worker}:",
            f"    role: {worker}",
            "    agent: command",
            "    runtime: process",
            f"    command: {command}",
            "    timeout: 300",
            f'    env: {{FAST_AGENT_SLEEP: "{sleep_s}"}}',
        ]
    lines += ["workflows:", "  infinite_orchestra:", "    max_tasks_per_cycle: 1000"]
    lines += ["  roocode_boomerang:", "    steps:"]
    lines += [f"      - {{id: {s}, worker: {w}, when: always}}" for s, w in ROLES.items()]
    lines += ["limits:", "  max_parallel_agents: 8"]
    (root / "orchestra.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "README.md").write_text("# bench\n", encoding="utf-8")
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.name", "Bench"],
        ["config", "user.email", "bench@example.com"],
        ["add", "-A"],
        ["-c", "commit.gpgsign=false", "commit", "-q", "-m", "bench"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


def queue(root: Path, first: int, count: int) -> None:
    folder = root / ".orchestra" / "queue"
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(first, first + count):
        (folder / f"task-{n}.md").write_text(
            f"---\ntitle: Bench {n}\n---\n\n## Goal\n\nNothing ({n}).\n\n"
            "## Acceptance criteria\n\n- a handoff\n",
            encoding="utf-8",
        )


def set_parallel(root: Path, k: int) -> None:
    (root / "orchestra.local.yaml").write_text(
        f"workflows:\n  infinite_orchestra:\n    parallel: {k}\n", encoding="utf-8"
    )


def cycle(root: Path, first: int, count: int, k: int) -> dict[str, Any]:
    """One cycle of ``count`` tasks at parallel ``k``: wall time and the tasks' own spans."""
    from flows.cycle import infinite_orchestra

    set_parallel(root, k)
    queue(root, first, count)
    started = time.perf_counter()
    state = infinite_orchestra(project=str(root), max_tasks=count, return_state=True)
    wall = time.perf_counter() - started
    run_dir = root / ".orchestra" / "runs" / str(state.state_details.flow_run_id)
    summary = json.loads((run_dir / "cycle.json").read_text(encoding="utf-8"))
    done = [t for t in summary["tasks"] if t.get("status") == "done"]
    if len(done) != count:
        msg = f"cycle ran {len(done)} of {count} tasks: {summary['headline']} ({run_dir})"
        raise RuntimeError(msg)
    from datetime import datetime

    spans = [
        (datetime.fromisoformat(t["ended"]) - datetime.fromisoformat(t["started"])).total_seconds()
        for t in done
    ]
    return {"wall_s": wall, "task_s": spans}


def floor_task(root: Path, base: Path, n: int) -> float:
    """The bare floor of one task: clone, 4 agent processes, commit, fetch; seconds."""
    ws = base / f"floor-{n}"
    started = time.perf_counter()
    subprocess.run(["git", "clone", "-q", "--local", str(root), str(ws)], check=True)
    prompts = base / "prompts"
    prompts.mkdir(exist_ok=True)
    for i, (step, role) in enumerate(ROLES.items(), 1):
        prompt = prompts / f"{step}.md"
        prompt.write_text(f"Role: {role}\nStep: {step}\n", encoding="utf-8")
        out = ws.parent / f"floor-{n}-out" / f"{i:02d}-{step}"
        out.mkdir(parents=True)
        subprocess.run(
            [sys.executable, str(FAST_AGENT), str(prompt), str(ws), str(out)],
            cwd=ws,
            check=True,
            env={**os.environ, "FAST_AGENT_SLEEP": "0"},
        )
    (ws / f"floor-{n}.txt").write_text("x\n", encoding="utf-8")
    ident = ["-c", "user.name=B", "-c", "user.email=b@example.com"]
    subprocess.run(["git", "add", "-A"], cwd=ws, check=True)
    subprocess.run(["git", *ident, "commit", "-qm", "floor"], cwd=ws, check=True)
    subprocess.run(
        ["git", "fetch", "-q", str(ws), f"HEAD:refs/heads/floor-{n}"], cwd=root, check=True
    )
    shutil.rmtree(ws)
    return time.perf_counter() - started


@contextlib.contextmanager
def backend(name: str, base: Path) -> Iterator[None]:
    """Point Prefect at the backend before it is imported."""
    os.environ["PREFECT_HOME"] = str(base / "prefect-home")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    if name == "sqlite":
        os.environ.pop("PREFECT_API_URL", None)
        yield
        return
    from orchestra.prefect.postgres import LocalPostgres
    from orchestra.prefect.standalone import prefect_server

    base.chmod(0o755)  # the postgres user traverses it
    pg = LocalPostgres(base / "postgres")
    try:
        with prefect_server(base / "server-home", pg.start()) as api:
            os.environ["PREFECT_API_URL"] = api
            yield
    finally:
        pg.stop()


def child(name: str, what: str) -> dict[str, Any]:
    """Run one backend's measurements in this process (see the module docstring)."""
    base = Path(tempfile.mkdtemp(prefix=f"bench-parallel-{name}-"))
    try:
        with backend(name, base):
            return throughput(base) if what == "throughput" else fixed_cost(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def throughput(base: Path) -> dict[str, Any]:
    root = make_project(base / "project", SLEEP_S)
    cycle(root, 1, 1, 1)  # warm-up: server start, imports
    one = cycle(root, 10, 1, 1)
    task_s = one["task_s"][0]
    fixed_s = one["wall_s"] - task_s
    rows = {}
    for i, k in enumerate(KS):
        run = cycle(root, 100 * (i + 1), TASKS, k)
        ideal = math.ceil(TASKS / k) * task_s + fixed_s
        rows[str(k)] = {
            "wall_s": round(run["wall_s"], 2),
            "ideal_s": round(ideal, 2),
            "ratio": round(run["wall_s"] / ideal, 3),
        }
    return {"one_task_s": round(task_s, 2), "fixed_s": round(fixed_s, 2), "k": rows}


def fixed_cost(base: Path) -> dict[str, Any]:
    import flows.cycle_tasks as cycle_tasks

    root = make_project(base / "project", 0.0)
    cycle(root, 1, 1, 1)  # warm-up
    quiet = cycle_tasks.quiet_flow_runs
    results: dict[str, Any] = {}
    for label, heartbeat in (("heartbeat_off", False), ("heartbeat_on", True)):
        # A bench-only switch: Orchestra runs its subflows with the heartbeat off.
        cycle_tasks.quiet_flow_runs = contextlib.nullcontext if heartbeat else quiet  # type: ignore[assignment]
        time.sleep(2)
        first = 1000 if heartbeat else 2000
        one = cycle(root, first, 1, 1)["wall_s"]
        many = cycle(root, first + 1, FIXED_TASKS, 1)["wall_s"]
        # What one more task costs: the cycle's own start-up (preflight, sweep, lock, report)
        # is paid once per cycle, whatever the number of tasks.
        results[label] = round((many - one) / (FIXED_TASKS - 1), 3)
        results[f"{label}_cycle_share"] = round(many / FIXED_TASKS, 3)
    cycle_tasks.quiet_flow_runs = quiet  # type: ignore[assignment]
    floors = [floor_task(root, base, n) for n in range(FIXED_TASKS)]
    floor = sum(floors) / len(floors)
    results["floor_s"] = round(floor, 3)
    for label in ("heartbeat_off", "heartbeat_on"):
        results[f"{label}_over_floor_s"] = round(results[label] - floor, 3)
        results[f"{label}_cycle_share_over_floor_s"] = round(
            results[f"{label}_cycle_share"] - floor, 3
        )
    return results


def _spawn(name: str, what: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_parallel", "child", name, what],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        msg = f"{what} on {name} failed: {proc.stderr[-2000:]}"
        raise RuntimeError(msg)
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def run() -> dict[str, Any]:
    """Throughput at k = 1, 2, 4, 8 on SQLite and Postgres; ratio to ideal at k = 4 (worst)."""
    out: dict[str, Any] = {"tasks": TASKS, "steps": 4, "sleep_s": SLEEP_S}
    for name in ("sqlite", "postgres"):
        out[name] = _spawn(name, "throughput")
    out["ratio_k4_postgres"] = out["postgres"]["k"]["4"]["ratio"]
    out["ratio_k4_sqlite"] = out["sqlite"]["k"]["4"]["ratio"]
    out["status"] = "PASS" if out["ratio_k4_postgres"] <= TARGET_K4 else "MISS"
    return out


def run_fixed() -> dict[str, Any]:
    """Fixed cost per task on SQLite and Postgres, heartbeat off and on, against the floor."""
    out: dict[str, Any] = {"tasks": FIXED_TASKS, "steps": 4}
    for name in ("sqlite", "postgres"):
        out[name] = _spawn(name, "fixed")
    out["postgres_over_floor_s"] = out["postgres"]["heartbeat_off_over_floor_s"]
    return out


def report(result: dict[str, Any]) -> str:
    """Markdown tables of either bench."""
    lines = []
    if "postgres_over_floor_s" in result:
        lines += [
            "| backend | heartbeat | per task (marginal) | bare floor | marginal − floor "
            "| cycle wall / 10 | cycle wall / 10 − floor |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in ("sqlite", "postgres"):
            r = result[name]
            for label in ("heartbeat_off", "heartbeat_on"):
                lines.append(
                    f"| {name} | {label.removeprefix('heartbeat_')} | {r[label]} s "
                    f"| {r['floor_s']} s | {r[f'{label}_over_floor_s']} s "
                    f"| {r.get(f'{label}_cycle_share', '')} s "
                    f"| {r.get(f'{label}_cycle_share_over_floor_s', '')} s |"
                )
        return "\n".join(lines)
    lines += ["| backend | k | wall | ideal | wall / ideal |", "|---|---|---|---|---|"]
    for name in ("sqlite", "postgres"):
        r = result[name]
        for k, row in r["k"].items():
            lines.append(
                f"| {name} | {k} | {row['wall_s']} s | {row['ideal_s']} s | {row['ratio']}x |"
            )
        lines.append(
            f"| {name} | one task / fixed start-up | {r['one_task_s']} s | {r['fixed_s']} s | |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], sys.argv[3])))
    else:
        result = run_fixed() if "fixed" in sys.argv[1:] else run()
        print(json.dumps(result, indent=2))
        print(report(result))

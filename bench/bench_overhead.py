"""Benchmark: per-step orchestration overhead of Orchestra's process runtime.

Three ways of running the same ``tasks x steps`` invocations of ``bench/fast_agent.py`` (an agent
that writes a handoff and exits at once), in one Python process:

(a) Orchestra: a real ``infinite-orchestra`` cycle (flows.cycle) on a temporary git project whose
    workers all run the fast agent natively (``agent: command``, ``runtime: process``); every task
    runs plan → implement → review → fix in its own clone, as a subflow with one task run per step.
(b) Plain Prefect, no Orchestra code: a flow with one subflow per task, each running ``steps``
    ``@task`` functions that ``subprocess.run`` the fast agent with the same argv shape.
(c) Raw ``subprocess.run`` of the same invocations.

Per-step time is wall time / (tasks * steps); (b) and (c) are repeated and (a) runs at least two
cycles, and medians are reported. For (a) the agent's own time is also taken from each step's
``result.json`` (``duration``), which separates the agent process from the orchestration around it.
Prefect uses its ephemeral API in a temporary ``PREFECT_HOME``; a one-task warm-up cycle runs
first, so the server's start-up is not counted. Target: Orchestra ≤ 1.25x plain Prefect.

Run: ``python -m bench --only overhead`` (or ``python bench/bench_overhead.py [tasks] [steps]``).
"""

from __future__ import annotations

import atexit
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FAST_AGENT = Path(__file__).resolve().with_name("fast_agent.py")
TARGET_RATIO_VS_PREFECT = 1.25
#: Repetitions of the plain Prefect and raw runs (medians are reported).
BASELINE_REPEATS = 3
#: Orchestra cycles of ``tasks`` tasks (at least 2), if the time budget allows more than the first.
MIN_CYCLES = 2
MAX_CYCLES = 3
#: Start no further Orchestra cycle once this many seconds went into Orchestra cycles.
CYCLE_BUDGET_SECONDS = 240.0
#: Pause before each measured run: the API server finishes ingesting the previous run's logs and
#: events first (on a 2-core machine that work would otherwise slow down the next run).
SETTLE_SECONDS = 2.0
ROLES = {"plan": "architect", "implement": "coder", "review": "reviewer", "fix": "fixer"}
WORKERS = ("planner", "architect", "coder", "reviewer", "fixer")
#: The environment the baselines give the agent: what Orchestra's process runtime passes.
AGENT_ENV_NAMES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


# --- setup -------------------------------------------------------------------------------------


def prepare_prefect_env() -> str:
    """Point Prefect at a throw-away home (before Prefect is imported); return that home."""
    if "prefect" in sys.modules:
        home = os.environ.get("PREFECT_HOME", "(default)")
        print(f"bench_overhead: prefect was imported already; using PREFECT_HOME={home}")
        return home
    home = tempfile.mkdtemp(prefix="bench-prefect-home-")
    # Registered before Prefect starts its server, so it runs after the server's own shutdown.
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ["PREFECT_HOME"] = home
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
    os.environ.pop("PREFECT_API_URL", None)
    # Runs still log to the API at INFO (as in real use); only the console stays quiet.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    return home


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _yaml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def make_project(root: Path, steps: int) -> Path:
    """A fresh git project whose five workers all run the fast agent natively."""
    root.mkdir(parents=True)
    command = _yaml_list(
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
            "    timeout: 120",
        ]
    step_ids = list(ROLES)[:steps]
    lines += ["workflows:", "  infinite_orchestra:", "    max_tasks_per_cycle: 1000"]
    lines += ["  roocode_boomerang:", "    steps:"]
    for step_id in step_ids:
        # `fix` normally runs only after a review asks for changes; here it always runs, so that
        # every task has `steps` steps although the fast reviewer approves.
        lines.append(f"      - {{id: {step_id}, worker: {ROLES[step_id]}, when: always}}")
    (root / "orchestra.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "README.md").write_text("# bench project\n", encoding="utf-8")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.name", "Bench")
    _git(root, "config", "user.email", "bench@example.com")
    with (root / ".git" / "info" / "exclude").open("a", encoding="utf-8") as handle:
        handle.write("\n.orchestra/\n")
    _git(root, "add", "-A")
    _git(root, "-c", "commit.gpgsign=false", "commit", "-q", "-m", "bench project")
    return root


def queue_tasks(root: Path, first: int, count: int) -> None:
    """Write ``count`` valid task files numbered from ``first`` into the project's queue."""
    queue = root / ".orchestra" / "queue"
    queue.mkdir(parents=True, exist_ok=True)
    for number in range(first, first + count):
        (queue / f"task-{number}.md").write_text(
            f"---\ntitle: Bench task {number}\n---\n\n"
            f"## Goal\n\nDo nothing, quickly (task {number}).\n\n"
            "## Acceptance criteria\n\n- the agent writes a handoff\n",
            encoding="utf-8",
        )


# --- (a) Orchestra ----------------------------------------------------------------------------


def orchestra_cycle(root: Path, first: int, tasks: int, steps: int) -> dict[str, Any]:
    """One real cycle of ``tasks`` tasks; wall time and the agents' own step durations."""
    from flows.cycle import infinite_orchestra
    from orchestra.prefect.heartbeat import engine_heartbeat_off

    queue_tasks(root, first, tasks)
    started = time.perf_counter()
    with engine_heartbeat_off():  # as python -m flows.run starts a cycle
        state = infinite_orchestra(project=str(root), max_tasks=tasks, return_state=True)
    wall = time.perf_counter() - started
    if not state.is_completed():
        msg = f"orchestra cycle did not complete: {state.type.value} {state.message}"
        raise RuntimeError(msg)
    run_dir = root / ".orchestra" / "runs" / str(state.state_details.flow_run_id)
    summary = json.loads((run_dir / "cycle.json").read_text(encoding="utf-8"))
    durations = [
        float(json.loads(p.read_text(encoding="utf-8"))["duration"])
        for p in run_dir.glob("*/*/result.json")
    ]
    done = [t for t in summary.get("tasks", []) if t.get("status") == "done"]
    if len(done) != tasks or len(durations) != tasks * steps:
        msg = (
            f"orchestra cycle ran {len(done)} of {tasks} tasks and {len(durations)} of "
            f"{tasks * steps} steps (see {run_dir})"
        )
        raise RuntimeError(msg)
    return {"wall_s": wall, "agent_durations_s": durations}


# --- (b) plain Prefect and (c) raw subprocess --------------------------------------------------


def agent_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in AGENT_ENV_NAMES if k in os.environ}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    return env


def write_prompts(folder: Path, steps: int) -> dict[str, Path]:
    """One prompt file per step, with the Role:/Step: lines the fast agent reads."""
    folder.mkdir(parents=True, exist_ok=True)
    prompts = {}
    for step_id in list(ROLES)[:steps]:
        path = folder / f"{step_id}.md"
        path.write_text(
            f"# Bench step: {step_id}\n\nRole: {ROLES[step_id]}\nStep: {step_id}\n",
            encoding="utf-8",
        )
        prompts[step_id] = path
    return prompts


def run_agent(prompt: Path, workspace: Path, output_dir: Path, env: dict[str, str]) -> float:
    """One fast-agent invocation, the way a runner without Orchestra would start it; seconds."""
    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(FAST_AGENT), str(prompt), str(workspace), str(output_dir)],
        cwd=workspace,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started


def raw_run(base: Path, prompts: dict[str, Path], tasks: int) -> float:
    """Wall seconds of ``tasks * len(prompts)`` plain subprocess runs."""
    workspace = base / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    env = agent_env()
    started = time.perf_counter()
    for t in range(tasks):
        for n, (step_id, prompt) in enumerate(prompts.items(), start=1):
            run_agent(prompt, workspace, base / "out" / f"task-{t}" / f"{n:02d}-{step_id}", env)
    return time.perf_counter() - started


def make_plain_prefect() -> Callable[[Path, dict[str, Path], int], tuple[float, list[float]]]:
    """The plain Prefect baseline: a flow, a subflow per task, a task run per step."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    @task(name="plain-step", task_run_name="{task_id} · {step_id}", cache_policy=NO_CACHE)
    def plain_step(
        task_id: str, step_id: str, prompt: Path, workspace: Path, output_dir: Path
    ) -> float:
        seconds = run_agent(prompt, workspace, output_dir, agent_env())
        (output_dir / "handoff.md").read_text(encoding="utf-8")
        return seconds

    @flow(name="plain-task", flow_run_name="{task_id}")
    def plain_task(task_id: str, base: str, prompts: dict[str, str]) -> list[float]:
        workspace = Path(base) / "workspace"
        durations = []
        for n, (step_id, prompt) in enumerate(prompts.items(), start=1):
            out = Path(base) / "out" / task_id / f"{n:02d}-{step_id}"
            durations.append(plain_step(task_id, step_id, Path(prompt), workspace, out))
        return durations

    @flow(name="plain-cycle")
    def plain_cycle(base: str, prompts: dict[str, str], tasks: int) -> list[float]:
        return [d for t in range(tasks) for d in plain_task(f"task-{t}", base, prompts)]

    def run(base: Path, prompts: dict[str, Path], tasks: int) -> tuple[float, list[float]]:
        """Wall seconds of the flow, and each subprocess.run's seconds."""
        (base / "workspace").mkdir(parents=True, exist_ok=True)
        as_text = {k: str(v) for k, v in prompts.items()}
        started = time.perf_counter()
        durations = plain_cycle(str(base), as_text, tasks)
        wall = time.perf_counter() - started
        if len(durations) != tasks * len(prompts):
            msg = f"plain prefect flow ran {len(durations)} steps, expected {tasks * len(prompts)}"
            raise RuntimeError(msg)
        return wall, durations

    return run


# --- the benchmark ------------------------------------------------------------------------------


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def profile_cycle(root: Path, first: int, tasks: int, steps: int, top: int = 25) -> str:
    """cProfile one more Orchestra cycle (main thread); the top entries by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        orchestra_cycle(root, first, tasks, steps)
    finally:
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    out.write("\n--- Orchestra's own code (orchestra/, flows/), by cumulative time ---\n")
    stats.print_stats(r"/(orchestra|flows)/", top)
    out.write("\n--- by own time ---\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def run(tasks: int = 20, steps: int = 4, *, profile: bool = False) -> dict[str, Any]:
    """Per-step wall time of Orchestra, plain Prefect and raw subprocess; medians and ratios."""
    if not 1 <= steps <= len(ROLES):
        msg = f"steps must be 1..{len(ROLES)}, got {steps}"
        raise ValueError(msg)
    prepare_prefect_env()
    total = tasks * steps
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        base = Path(tmp)
        root = make_project(base / "project", steps)
        prompts = write_prompts(base / "prompts", steps)
        plain_prefect = make_plain_prefect()

        warm_started = time.perf_counter()
        orchestra_cycle(root, 1, 1, steps)  # starts the ephemeral API server
        warmup_s = time.perf_counter() - warm_started
        plain_prefect(base / "plain-warm", prompts, 1)
        raw_run(base / "raw-warm", prompts, 1)

        cycles: list[dict[str, Any]] = []
        prefect_s: list[float] = []
        prefect_agent_s: list[float] = []
        raw_s: list[float] = []
        spent = 0.0
        rounds = max(MAX_CYCLES, BASELINE_REPEATS)
        for i in range(rounds):
            # Interleaved, so that drift in the machine's speed hits all three alike.
            enough = len(cycles) >= MIN_CYCLES and spent > CYCLE_BUDGET_SECONDS
            if len(cycles) < MAX_CYCLES and not enough:
                time.sleep(SETTLE_SECONDS)
                cycle = orchestra_cycle(root, 1000 * (i + 1), tasks, steps)
                spent += cycle["wall_s"]
                cycles.append(cycle)
            if i < BASELINE_REPEATS:
                time.sleep(SETTLE_SECONDS)
                wall, durations = plain_prefect(base / f"plain-{i}", prompts, tasks)
                prefect_s.append(wall)
                prefect_agent_s += durations
                time.sleep(SETTLE_SECONDS)
                raw_s.append(raw_run(base / f"raw-{i}", prompts, tasks))
        if profile:
            time.sleep(SETTLE_SECONDS)
        profile_text = profile_cycle(root, 90_000, tasks, steps) if profile else None

    orchestra_step = statistics.median(c["wall_s"] for c in cycles) / total
    agent_step = statistics.median(d for c in cycles for d in c["agent_durations_s"])
    prefect_step = statistics.median(prefect_s) / total
    raw_step = statistics.median(raw_s) / total
    result: dict[str, Any] = {
        "tasks": tasks,
        "steps_per_task": steps,
        "orchestra_cycles": len(cycles),
        "baseline_repeats": len(prefect_s),
        "orchestra_per_step_ms": _ms(orchestra_step),
        "prefect_per_step_ms": _ms(prefect_step),
        "raw_per_step_ms": _ms(raw_step),
        "ratio_vs_prefect": round(orchestra_step / prefect_step, 3),
        "ratio_vs_raw": round(orchestra_step / raw_step, 3),
        "target_ratio_vs_prefect": TARGET_RATIO_VS_PREFECT,
        # result.json `duration`: the agent process as the runtime timed it, per step.
        "orchestra_agent_step_ms": _ms(agent_step),
        "orchestra_orchestration_per_step_ms": _ms(orchestra_step - agent_step),
        # Time of each subprocess.run inside the plain Prefect task runs.
        "prefect_agent_step_ms": _ms(statistics.median(prefect_agent_s)),
        "prefect_overhead_per_step_ms": _ms(prefect_step - raw_step),
        "orchestra_cycle_s": [round(c["wall_s"], 3) for c in cycles],
        "prefect_run_s": [round(s, 3) for s in prefect_s],
        "raw_run_s": [round(s, 3) for s in raw_s],
        "warmup_cycle_s": round(warmup_s, 3),
    }
    if profile_text is not None:
        result["profile"] = profile_text
    return result


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    out = run(*args, profile=os.environ.get("BENCH_PROFILE") == "1")
    text = out.pop("profile", None)
    print(json.dumps(out, indent=2))
    if text:
        print(text)

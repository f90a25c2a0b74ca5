"""Benchmark: the per-step cost of a real aider in the worker image against the process runtime.

One coder step (Orchestra's ``run_step``: prompt, argv/env from the aider adapter, the runtime,
the parser) of aider 0.86.2 against the stand-in model API (``tests/support/chat_api.py``,
listening on loopback and the Docker bridge gateway), on a fresh clone of the small example
repository each time: (a) the process runtime with aider from ``.venv/tools/aider``; (b) the
Docker runtime in ``orchestra-worker:latest``, the API reached through the loopback rewrite.
Rotated rounds (each round runs both once), 1 warm-up round, medians over ``repeats`` rounds.
Every step's edit must land (calc.py changed) or the bench fails.

Run: ``python bench/bench_aider.py`` (JSON on stdout, progress on stderr).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.chat_api import ChatAPI, docker_bridge_ip  # noqa: E402
from support.real_agent import (  # noqa: E402
    MODEL,
    AiderScript,
    aider_workers,
    make_repo,
    project_config,
)

from orchestra.config.models import DockerConfig, WorkerProfile  # noqa: E402
from orchestra.engine.step import StepContext, run_step  # noqa: E402
from orchestra.runtime import build_runtime  # noqa: E402
from orchestra.runtime.process import ProcessRuntime  # noqa: E402

AIDER_BIN = REPO / ".venv" / "tools" / "aider" / "bin"
IMAGE = "orchestra-worker:latest"
PROJECT = "bench-aider"


def _step(root: Path, profile: WorkerProfile, n: int) -> StepContext:
    ws = make_repo(root / f"ws-{n}", project_config({}))
    return StepContext(
        project_id=PROJECT,
        run_id=f"bench-{n}",
        task_id="task-01",
        step_id="implement",
        title="Implement",
        worker_id="coder",
        profile=profile,
        prompt_name="implement",
        workspace=ws,
        output_dir=root / f"out-{n}",
        timeout=180,
        model=MODEL,
        values={"task": "Fix `add` in calc.py: it must return a + b.", "carry": "(none yet)"},
    )


def run(repeats: int = 3) -> dict[str, Any]:
    if not (AIDER_BIN / "aider").exists():
        raise SystemExit(f"aider is missing at {AIDER_BIN}: run `make aider`")
    bridge = docker_bridge_ip()
    if bridge is None:
        raise SystemExit("no docker0 bridge: Docker is needed")
    os.environ["PATH"] = f"{AIDER_BIN}{os.pathsep}{os.environ['PATH']}"
    times: dict[str, list[float]] = {"process": [], "docker": []}
    root = Path(tempfile.mkdtemp(prefix="bench-aider-"))
    os.environ["HOME"] = str(root / "home")
    (root / "home").mkdir()
    n = 0
    runtimes: dict[str, Any] = {}
    try:
        with ChatAPI(AiderScript(), hosts=("127.0.0.1", bridge)) as api:
            profiles = {
                kind: WorkerProfile.model_validate(
                    aider_workers(kind, base_url=api.url, image=IMAGE)["coder"]
                )
                for kind in ("process", "docker")
            }
            runtimes = {
                "process": ProcessRuntime(kill_grace=1),
                "docker": build_runtime(  # kept, as a flow run's: one egress proxy for its steps
                    DockerConfig(image=IMAGE),
                    project_id=PROJECT,
                    run_id="bench",
                    kill_grace=1,
                    kept=True,
                ),
            }
            order = ["process", "docker"]
            for round_ in range(repeats + 1):
                for kind in order if round_ % 2 == 0 else order[::-1]:
                    n += 1
                    ctx = _step(root, profiles[kind], n)
                    start = time.perf_counter()
                    record = run_step(ctx, runtimes[kind])
                    took = time.perf_counter() - start
                    calc = (ctx.workspace / "calc.py").read_text(encoding="utf-8")
                    if record.status != "ok" or "return a + b" not in calc:
                        raise SystemExit(f"{kind} step did not apply the edit: {record.message}")
                    print(f"round {round_} {kind}: {took:.2f} s", file=sys.stderr)
                    if round_ > 0:  # round 0 warms up
                        times[kind].append(took)
    finally:
        for runtime in runtimes.values():
            runtime.close()
        shutil.rmtree(root, ignore_errors=True)
    proc = statistics.median(times["process"])
    dock = statistics.median(times["docker"])
    return {
        "repeats": repeats,
        "process_step_s": round(proc, 2),
        "docker_step_s": round(dock, 2),
        "docker_extra_s": round(dock - proc, 2),
        "ratio_docker_vs_process": round(dock / proc, 2),
        "samples": times,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

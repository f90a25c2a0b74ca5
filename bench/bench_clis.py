"""Benchmark: a real Claude Code and a real Codex step in the worker image against the same step
as a process, and each CLI's own start-up outside Orchestra (the floor).

One coder step (Orchestra's ``run_step``) of each CLI against its stand-in model API
(``tests/support/messages_api.py``, ``tests/support/responses_api.py``, on loopback and the
Docker bridge gateway), playing the scripted session of ``tests/support/real_sessions.py``: the
CLI edits calc.py with its own tools, runs the tests, writes its handoff. On a fresh clone of the
example repository each time: (a) the process runtime with the CLI from ``.venv/tools``; (b) the
Docker runtime in ``orchestra-worker:latest``. Rotated rounds, 1 warm-up round, medians.
The floor: the CLI run directly (no Orchestra) on a one-turn prompt against the same stand-in.

Run: ``python bench/bench_clis.py`` (JSON on stdout, progress on stderr).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.chat_api import docker_bridge_ip  # noqa: E402
from support.messages_api import MessagesAPI  # noqa: E402
from support.model_api import ModelAPI, Turn  # noqa: E402
from support.real_agent import make_repo, project_config  # noqa: E402
from support.real_clis import (  # noqa: E402
    CLAUDE_MODEL,
    CODEX_MODEL,
    TOOLS,
    WORKER_IMAGE,
    claude_env,
    codex_env,
    workers,
)
from support.real_sessions import claude_session, codex_session  # noqa: E402
from support.responses_api import ResponsesAPI  # noqa: E402

from orchestra.config.models import DockerConfig, WorkerProfile  # noqa: E402
from orchestra.engine.step import StepContext, run_step  # noqa: E402
from orchestra.runtime import build_runtime  # noqa: E402
from orchestra.runtime.process import ProcessRuntime  # noqa: E402

PROJECT = "bench-clis"
MODELS = {"claude": CLAUDE_MODEL, "codex": CODEX_MODEL}


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
        model=profile.model,
        values={"task": "Fix `add` in calc.py: it must return a + b.", "carry": "(none yet)"},
    )


def _api(cli: str, hosts: tuple[str, ...]) -> tuple[ModelAPI, dict[str, str]]:
    """The CLI's stand-in, started (its URL has its port only then), and the env naming it."""
    if cli == "claude":
        claude = MessagesAPI(claude_session(), hosts=hosts)
        claude.start()
        return claude, claude_env(claude)
    codex = ResponsesAPI(codex_session(), hosts=hosts)
    codex.start()
    return codex, codex_env(codex)


def floor(cli: str, root: Path, repeats: int) -> float:
    """The CLI on its own: one prompt, one answer, no Orchestra (median seconds)."""
    ws = make_repo(root / f"floor-{cli}", project_config({}))
    samples = []
    with (MessagesAPI if cli == "claude" else ResponsesAPI)(lambda e: Turn(text="hi")) as api:
        env = {**os.environ, **(claude_env(api) if cli == "claude" else codex_env(api))}  # type: ignore[arg-type]
        home = root / f"home-{cli}"
        home.mkdir()
        env |= {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(home), "CODEX_HOME": str(home)}
        if cli == "codex":
            (home / "config.toml").write_text(
                'model_provider = "b"\n[model_providers.b]\nname = "b"\n'
                f'base_url = "{api.url}"\nenv_key = "OPENAI_API_KEY"\nwire_api = "responses"\n',  # type: ignore[attr-defined]
                encoding="utf-8",
            )
            argv = ["codex", "exec", "--json", "--skip-git-repo-check", "-m", CODEX_MODEL, "-"]
        else:
            argv = ["claude", "-p", "--model", CLAUDE_MODEL, "--output-format", "json"]
        for round_ in range(repeats + 1):
            start = time.perf_counter()
            subprocess.run(argv, input="Role: none\nsay hi", cwd=ws, env=env, check=True,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
            if round_ > 0:
                samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(repeats: int = 3) -> dict[str, Any]:
    bridge = docker_bridge_ip()
    if bridge is None:
        raise SystemExit("no docker0 bridge: Docker is needed")
    root = Path(tempfile.mkdtemp(prefix="bench-clis-"))
    bindir = root / "bin"
    bindir.mkdir()
    for cli in ("claude", "codex"):
        path = TOOLS / cli / "bin" / cli
        if not path.exists():
            raise SystemExit(f"{cli} is missing at {path}: run `make {cli}`")
        (bindir / cli).symlink_to(path.resolve())
    os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ['PATH']}"
    os.environ["HOME"] = str(root / "home")
    (root / "home").mkdir()
    result: dict[str, Any] = {"repeats": repeats}
    n = 0
    docker = build_runtime(
        DockerConfig(image=WORKER_IMAGE), project_id=PROJECT, run_id="bench", kill_grace=1
    )
    runtimes = {"process": ProcessRuntime(kill_grace=1), "docker": docker}
    try:
        for cli in ("claude", "codex"):
            times: dict[str, list[float]] = {"process": [], "docker": []}
            phases: dict[str, list[tuple[float, float, float]]] = {"process": [], "docker": []}
            api, env = _api(cli, ("127.0.0.1", bridge))
            with api:  # stops it
                profiles = {
                    kind: WorkerProfile.model_validate(
                        workers(cli, env, MODELS[cli], kind)["coder"]
                    )
                    for kind in ("process", "docker")
                }
                order = ["process", "docker"]
                for round_ in range(repeats + 1):
                    for kind in order if round_ % 2 == 0 else order[::-1]:
                        n += 1
                        ctx = _step(root, profiles[kind], n)
                        asked = len(api.exchanges)
                        wall = time.time()
                        start = time.perf_counter()
                        record = run_step(ctx, runtimes[kind])
                        took = time.perf_counter() - start
                        sent = [e.time for e in api.exchanges[asked:]]
                        calc = (ctx.workspace / "calc.py").read_text(encoding="utf-8")
                        if record.status != "ok" or "return a + b" not in calc:
                            raise SystemExit(f"{cli} {kind} step failed: {record.message}")
                        print(f"{cli} round {round_} {kind}: {took:.2f} s", file=sys.stderr)
                        if round_ > 0:
                            times[kind].append(took)
                            # Before the first model request / between the first and the last
                            # (the CLI's tools) / after the last (exit, clean-up).
                            end = wall + took
                            phases[kind].append(
                                (sent[0] - wall, sent[-1] - sent[0], end - sent[-1])
                            )
            proc = statistics.median(times["process"])
            dock = statistics.median(times["docker"])
            result |= {
                f"{cli}_floor_s": round(floor(cli, root, repeats), 2),
                f"{cli}_process_step_s": round(proc, 2),
                f"{cli}_docker_step_s": round(dock, 2),
                f"{cli}_docker_extra_s": round(dock - proc, 2),
                f"{cli}_ratio": round(dock / proc, 2),
                f"{cli}_samples": times,
                f"{cli}_phases": {
                    kind: [
                        round(statistics.median(p[i] for p in phases[kind]), 2) for i in range(3)
                    ]
                    for kind in phases
                },
            }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["ratio_docker_vs_process"] = max(result["claude_ratio"], result["codex_ratio"])
    return result


def report(result: dict[str, Any]) -> str:
    """Where a step's time goes, by phase (medians, seconds), process against Docker."""
    lines = [
        "Where the time goes (medians, s): until the CLI's first model request (start-up; in"
        " Docker: container create, start, attach, the CLI's start in a cold container), between"
        " its first and last request (the model turns and the CLI's own tools: edits, the test"
        " run), after the last (exit; in Docker: the container's removal).",
        "",
        "| CLI | runtime | to first request | tool turns | after last request |",
        "|---|---|---|---|---|",
    ]
    for cli in ("claude", "codex"):
        for kind, (first, turns, last) in result.get(f"{cli}_phases", {}).items():
            lines.append(f"| {cli} | {kind} | {first} | {turns} | {last} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

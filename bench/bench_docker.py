"""Benchmark: the per-step cost of Orchestra's Docker runtime against Docker itself.

Same image (``orchestra-test:latest``, a tiny busybox built by ``scripts/build-test-image.sh``),
same command (``true``), all in one process and one run:

(a) ``docker run --rm orchestra-test:latest true`` through ``subprocess.run`` (the CLI);
(b) the bare docker SDK sequence ``containers.create → start → wait → remove``, one client reused;
(c) ``DockerRuntime.run()`` of a ``StepRequest`` (argv ``["true"]``, temporary workspace and
    output folder, timeout 60, no stdin) with the default ``DockerConfig`` sandbox and the default
    constructor (``poll_interval`` 0.25, a fresh client per step), one runtime reused across
    steps, as a cycle does (``Project.runtime`` passes no ``poll_interval``).

A profiling variant runs in the same rounds: (b+) the bare SDK sequence with the runtime's own
``sandbox.container_kwargs`` (init, mounts, limits, cap_drop, host-gateway: the engine-side cost
of the sandbox policy, as opposed to what the runtime's Python adds). Each round runs every
variant once, in a rotated order, so drift on a busy machine hits all of them alike; 2 warm-up
rounds, then medians over ``repeats`` rounds.

A second, short phase times every engine API request (the SDK's ``APIClient.send`` is wrapped
for that phase only) of (b), (b+) and (c) with ``true``, and of (b), (c) and (c) with
``poll_interval=0.02`` with ``sleep 1``: per step, which requests are made (how many ``wait``
polls), how long each takes, and what is left for client-side Python work. The per-step client
the runtime builds (``DockerHost(...).get_client()``, which asks the engine for its API version)
is also timed alone.

(d) Concurrency: N threads each call ``DockerRuntime.run`` (one runtime shared, as a cycle's
concurrent tasks share their profile's runtime) of ``sleep 1`` — and of ``true`` — at the same
moment, for N = 1, 2, 4, 8, 16; per-step wall time is each call's own wall time, median over
the steps at that N. Reported: the largest N whose per-step time is below twice that at N = 1.

Every container is labelled ``orchestra.project=bench-docker``; leftovers with that label are
removed before and after (also on error). Target: (c) / (b) ≤ 1.10.

Run: ``python bench/bench_docker.py`` (JSON on stdout, progress on stderr).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

IMAGE = "orchestra-test:latest"
PROJECT = "bench-docker"
LABEL = "orchestra.project"
REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "scripts" / "build-test-image.sh"
TARGET_STEP_VS_SDK = 1.10
WARMUPS = 2
REPEATS = 20
PROFILE_REPEATS = 8
FAST_POLL = 0.02
CONCURRENCY = (1, 2, 4, 8, 16)
#: Steps measured at N = 1 (and at least this many at every N): a single step is a noisy sample.
MIN_CONCURRENT_SAMPLES = 4
#: No further concurrency level starts once the whole bench has run this long (seconds).
BUDGET_SECONDS = 240.0


def _log(message: str) -> None:
    print(f"bench_docker: {message}", file=sys.stderr, flush=True)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _stats(samples_ms: list[float]) -> dict[str, Any]:
    ordered = sorted(samples_ms)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) >= 2 else ordered * 3
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p25_ms": round(quartiles[0], 1),
        "p75_ms": round(quartiles[2], 1),
        "min_ms": round(ordered[0], 1),
        "max_ms": round(ordered[-1], 1),
        "samples": len(ordered),
    }


# --- engine helpers ------------------------------------------------------------------------------


def ensure_image() -> None:
    """Build ``orchestra-test:latest`` with the repo's script when the engine lacks it."""
    found = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    if found.returncode != 0:
        _log(f"{IMAGE} is missing: running {BUILD_SCRIPT.name}")
        subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, stdout=sys.stderr)


def remove_leftovers(client: Any) -> int:
    """Remove every container labelled ``orchestra.project=bench-docker``; return how many."""
    removed = 0
    for summary in client.api.containers(all=True, filters={"label": f"{LABEL}={PROJECT}"}):
        with contextlib.suppress(Exception):
            client.api.remove_container(summary["Id"], force=True)
            removed += 1
    return removed


# --- the measured operations ---------------------------------------------------------------------


def cli_step() -> None:
    """(a) ``docker run --rm`` of ``true``."""
    subprocess.run(
        ["docker", "run", "--rm", "--label", f"{LABEL}={PROJECT}", IMAGE, "true"],
        check=True,
        capture_output=True,
    )


def sdk_step(client: Any, kwargs: dict[str, Any]) -> None:
    """(b) create → start → wait → remove with a reused client."""
    container = client.containers.create(**kwargs)
    try:
        container.start()
        status = container.wait()
        if status.get("StatusCode") != 0:
            raise RuntimeError(f"bare SDK step exited {status}")
    finally:
        container.remove(force=True)


def runtime_step(runtime: Any, request: Any) -> float:
    """(c) one ``DockerRuntime.run``; returns its wall time in seconds."""
    started = time.perf_counter()
    result = runtime.run(request)
    elapsed = time.perf_counter() - started
    if result.exit_code != 0:
        raise RuntimeError(f"DockerRuntime step exited {result.exit_code}: {result.output_tail}")
    return elapsed


# --- request timing (profiling phase) ------------------------------------------------------------

#: Engine requests by (method, path without the API version and container id) → a short name.
_KINDS = (
    ("GET", re.compile(r"^/version$"), "version"),
    ("POST", re.compile(r"^/containers/create$"), "create"),
    ("GET", re.compile(r"^/containers/[^/]+/json$"), "inspect"),
    ("POST", re.compile(r"^/containers/[^/]+/attach$"), "attach"),
    ("POST", re.compile(r"^/containers/[^/]+/start$"), "start"),
    ("POST", re.compile(r"^/containers/[^/]+/wait$"), "wait"),
    ("DELETE", re.compile(r"^/containers/[^/]+$"), "remove"),
)
KIND_ORDER = ("version", "create", "inspect", "attach", "start", "wait", "remove", "other")
_VERSION_PREFIX = re.compile(r"^/v\d+\.\d+")


def request_kind(method: str, url: str) -> str:
    """The short name of an engine request (``other`` when it is none of the step's own)."""
    from urllib.parse import urlsplit

    path = _VERSION_PREFIX.sub("", urlsplit(url).path)
    for kind_method, pattern, name in _KINDS:
        if method == kind_method and pattern.match(path):
            return name
    return "other"


class RequestTimer:
    """While active, wraps ``docker.api.client.APIClient.send``: (kind, seconds) per request."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def active(self) -> Iterator[RequestTimer]:
        from docker.api.client import APIClient

        original = APIClient.send
        timer = self

        def send(client: Any, request: Any, **kwargs: Any) -> Any:
            kind = request_kind(request.method, request.url)
            started = time.perf_counter()
            try:
                return original(client, request, **kwargs)
            finally:
                with timer._lock:
                    timer.calls.append((kind, time.perf_counter() - started))

        APIClient.send = send  # type: ignore[method-assign]
        try:
            yield self
        finally:
            APIClient.send = original  # type: ignore[method-assign]

    def take(self) -> list[tuple[str, float]]:
        with self._lock:
            calls, self.calls = self.calls, []
        return calls


def breakdown(runs: list[tuple[float, list[tuple[str, float]]]]) -> dict[str, Any]:
    """Per step, the median time and mean count of each request kind, and the client-side rest.

    A wait that times out (the runtime polls) counts as one call; a request's time runs from
    sending it to its response headers (for ``wait``: until the container has exited).
    """
    requests: dict[str, Any] = {}
    for kind in KIND_ORDER:
        counts = [sum(1 for k, _ in calls if k == kind) for _, calls in runs]
        if not any(counts):
            continue
        times = [sum(s for k, s in calls if k == kind) for _, calls in runs]
        requests[kind] = {
            "median_ms": _ms(statistics.median(times)),
            "calls": round(statistics.mean(counts), 2),
        }
    totals = [total for total, _ in runs]
    rest = [total - sum(s for _, s in calls) for total, calls in runs]
    return {
        "steps": len(runs),
        "total_median_ms": _ms(statistics.median(totals)),
        "client_side_rest_median_ms": _ms(statistics.median(rest)),
        "requests_per_step": round(statistics.mean(len(calls) for _, calls in runs), 2),
        "requests": requests,
    }


# --- the phases ----------------------------------------------------------------------------------


def measure_sequential(
    variants: dict[str, Callable[[], object]], warmups: int, repeats: int
) -> dict[str, list[float]]:
    """Round-robin: each round runs every variant once (rotated order); ms per variant."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_no in range(warmups + repeats):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            variants[name]()
            elapsed = (time.perf_counter() - started) * 1000
            if round_no >= warmups:
                samples[name].append(elapsed)
        label = "warm-up" if round_no < warmups else f"round {round_no - warmups + 1}/{repeats}"
        if round_no < warmups or (round_no - warmups + 1) % 5 == 0:
            medians = ", ".join(f"{n} {statistics.median(v):.0f}" for n, v in samples.items() if v)
            _log(f"sequential {label} done{': ' + medians + ' ms' if medians else ''}")
    return samples


def _run_batch(runtime: Any, requests: list[Any]) -> tuple[list[float], list[str], float]:
    """Start one thread per request at a barrier; (step ms, errors, batch wall ms)."""
    barrier = threading.Barrier(len(requests))
    lock = threading.Lock()
    times: list[float] = []
    errors: list[str] = []

    def one(request: Any) -> None:
        barrier.wait()
        try:
            elapsed = runtime_step(runtime, request)
        except Exception as exc:
            with lock:
                errors.append(repr(exc))
            return
        with lock:
            times.append(elapsed * 1000)

    threads = [threading.Thread(target=one, args=(r,), daemon=True) for r in requests]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, errors, (time.perf_counter() - started) * 1000


def measure_concurrency(
    runtime: Any, make_request: Callable[[str, list[str]], Any], argv: list[str], deadline: float
) -> list[dict[str, Any]]:
    """Per-step wall time of N simultaneous ``DockerRuntime.run`` calls, N in CONCURRENCY."""
    levels: list[dict[str, Any]] = []
    for n in CONCURRENCY:
        if time.monotonic() > deadline:
            _log(f"concurrency {argv[0]}: time budget spent, N >= {n} not run")
            break
        batches = max(1, -(-MIN_CONCURRENT_SAMPLES // n))
        step_times: list[float] = []
        batch_walls: list[float] = []
        errors: list[str] = []
        for batch in range(batches):
            requests = [make_request(f"c{n}-{batch}-{i}", argv) for i in range(n)]
            times, failed, wall = _run_batch(runtime, requests)
            step_times += times
            errors += failed
            batch_walls.append(wall)
        if errors:
            raise RuntimeError(f"{len(errors)} concurrent step(s) failed at N={n}: {errors[0]}")
        level = {"n": n, "argv": " ".join(argv), **_stats(step_times)}
        level["batch_wall_ms"] = round(statistics.median(batch_walls), 1)
        levels.append(level)
        _log(
            f"concurrency {argv[0]} N={n}: per-step median {level['median_ms']:.0f} ms, "
            f"batch wall {level['batch_wall_ms']:.0f} ms ({batches} batch(es))"
        )
    base = levels[0]["median_ms"] if levels else 0.0
    for level in levels:
        level["vs_n1"] = round(level["median_ms"] / base, 2) if base else None
    return levels


def largest_n_before_double(levels: list[dict[str, Any]]) -> int | None:
    """The largest N (in order, stopping at the first that doubles) under 2x the N=1 time."""
    best = None
    for level in levels:
        if level["vs_n1"] is None or level["vs_n1"] >= 2.0:
            break
        best = level["n"]
    return best


#: The profiled variants, in the order of the breakdown table's columns.
PROFILE_COLUMNS = (
    ("bare_sdk", "(b) bare SDK"),
    ("sdk_with_sandbox", "(b) + sandbox kwargs"),
    ("docker_step", "(c) runtime"),
    ("bare_sdk_sleep", "(b) `sleep 1`"),
    ("docker_step_sleep", "(c) `sleep 1`"),
    ("docker_step_sleep_fast_poll", f"(c) `sleep 1`, poll {FAST_POLL} s"),
)


def run(repeats: int = REPEATS, profile_repeats: int = PROFILE_REPEATS) -> dict[str, Any]:
    """Run every phase; return medians, ratios, the request breakdown and the concurrency table."""
    from loguru import logger

    import docker
    from orchestra.config.models import DockerConfig
    from orchestra.runtime import sandbox
    from orchestra.runtime.base import StepRequest
    from orchestra.runtime.docker import DockerRuntime

    bench_started = time.monotonic()
    ensure_image()
    client = docker.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="bench-docker-"))
    logger.disable("orchestra.runtime.docker")  # one DEBUG line per step would drown the progress
    load_before = os.getloadavg()
    try:
        if stale := remove_leftovers(client):
            _log(f"removed {stale} leftover container(s) labelled {LABEL}={PROJECT}")
        cfg = DockerConfig(image=IMAGE, network="bridge")  # the runtime alone; egress: bench_egress
        run_id = f"bench-{os.getpid()}"

        def make_request(name: str, argv: list[str]) -> StepRequest:
            workspace = tmp / name / "workspace"
            workspace.mkdir(parents=True, exist_ok=True)
            return StepRequest(
                argv=argv, workspace=workspace, output_dir=tmp / name / "out", timeout=60, name=name
            )

        request = make_request("seq", ["true"])
        sleep_request = make_request("seq-sleep", ["sleep", "1"])
        request.output_dir.mkdir(parents=True, exist_ok=True)  # the runtime does it in run()
        bare = {"image": IMAGE, "command": ["true"], "labels": {LABEL: PROJECT}}
        bare_sleep = {**bare, "command": ["sleep", "1"]}
        sandboxed = sandbox.container_kwargs(request, cfg, project_id=PROJECT, run_id=run_id)

        runtime = DockerRuntime(cfg, project_id=PROJECT, run_id=run_id)
        fast_poll = DockerRuntime(cfg, project_id=PROJECT, run_id=run_id, poll_interval=FAST_POLL)
        operations: dict[str, Callable[[], object]] = {
            "docker_run_cli": cli_step,
            "bare_sdk": lambda: sdk_step(client, bare),
            "docker_step": lambda: runtime_step(runtime, request),
            "sdk_with_sandbox": lambda: sdk_step(client, sandboxed),
            "bare_sdk_sleep": lambda: sdk_step(client, bare_sleep),
            "docker_step_sleep": lambda: runtime_step(runtime, sleep_request),
            "docker_step_sleep_fast_poll": lambda: runtime_step(fast_poll, sleep_request),
        }
        sequential = ("docker_run_cli", "bare_sdk", "docker_step", "sdk_with_sandbox")
        _log(f"sequential: {len(sequential)} variants, {WARMUPS} warm-up + {repeats} rounds")
        samples = measure_sequential(
            {name: operations[name] for name in sequential}, WARMUPS, repeats
        )
        stats = {name: _stats(values) for name, values in samples.items()}
        paired = [
            c / b for c, b in zip(samples["docker_step"], samples["bare_sdk"], strict=True) if b
        ]

        _log(
            f"profile: {profile_repeats} rounds of {len(PROFILE_COLUMNS)} variants, requests timed"
        )
        timer = RequestTimer()
        profiled: dict[str, list[tuple[float, list[tuple[str, float]]]]] = defaultdict(list)
        with timer.active():
            for _ in range(profile_repeats):
                for name, _label in PROFILE_COLUMNS:
                    timer.take()
                    started = time.perf_counter()
                    operations[name]()
                    profiled[name].append((time.perf_counter() - started, timer.take()))
        profile = {name: breakdown(runs) for name, runs in profiled.items()}
        client_build: list[float] = []
        for _ in range(profile_repeats):
            started = time.perf_counter()
            runtime._client_factory().close()  # what every DockerRuntime.run does first
            client_build.append((time.perf_counter() - started) * 1000)

        deadline = bench_started + BUDGET_SECONDS
        concurrency = {
            "sleep": measure_concurrency(runtime, make_request, ["sleep", "1"], deadline),
            "true": measure_concurrency(runtime, make_request, ["true"], deadline),
        }
    finally:
        logger.enable("orchestra.runtime.docker")
        if left := remove_leftovers(client):
            _log(f"removed {left} leftover container(s) at the end")
        client.close()
        shutil.rmtree(tmp, ignore_errors=True)

    med = {name: s["median_ms"] for name, s in stats.items()}
    ratio = round(med["docker_step"] / med["bare_sdk"], 3)
    return {
        "image": IMAGE,
        "command": "true",
        "warmups": WARMUPS,
        "repeats": repeats,
        "docker_run_cli_median_ms": med["docker_run_cli"],
        "bare_sdk_median_ms": med["bare_sdk"],
        "docker_step_median_ms": med["docker_step"],
        "ratio_step_vs_sdk": ratio,
        "ratio_step_vs_sdk_paired_median": round(statistics.median(paired), 3),
        "ratio_step_vs_cli": round(med["docker_step"] / med["docker_run_cli"], 3),
        "target_step_vs_sdk": TARGET_STEP_VS_SDK,
        "passes": ratio <= TARGET_STEP_VS_SDK,
        "sdk_with_sandbox_median_ms": med["sdk_with_sandbox"],
        "ratio_sandbox_sdk_vs_sdk": round(med["sdk_with_sandbox"] / med["bare_sdk"], 3),
        "ratio_step_vs_sandbox_sdk": round(med["docker_step"] / med["sdk_with_sandbox"], 3),
        "sequential": stats,
        "profile_repeats": profile_repeats,
        "fast_poll_interval_s": FAST_POLL,
        "profile": profile,
        "client_build_median_ms": round(statistics.median(client_build), 1),
        "concurrency_sleep": concurrency["sleep"],
        "concurrency_true": concurrency["true"],
        "concurrency_max_n_before_double": largest_n_before_double(concurrency["sleep"]),
        "concurrency_true_max_n_before_double": largest_n_before_double(concurrency["true"]),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "seconds": round(time.monotonic() - bench_started, 1),
    }


# --- report --------------------------------------------------------------------------------------


def _profile_table(result: dict[str, Any]) -> list[str]:
    """Where a step's time goes: per engine request, median ms per step (and calls if > 1)."""
    profile = result.get("profile") or {}
    columns = [(key, label) for key, label in PROFILE_COLUMNS if key in profile]
    if not columns:
        return []
    lines = [
        f"Where a step's time goes (engine requests timed, median ms per step over"
        f" {result.get('profile_repeats', PROFILE_REPEATS)} steps; ×n = calls per step):",
        "",
        "| request | " + " | ".join(label for _, label in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for kind in KIND_ORDER:
        cells = []
        for key, _ in columns:
            entry = profile[key]["requests"].get(kind)
            if entry is None:
                cells.append("—")
                continue
            calls = f" ×{entry['calls']:g}" if entry["calls"] != 1 else ""
            cells.append(f"{entry['median_ms']:.1f}{calls}")
        if any(cell != "—" for cell in cells):
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    rest = [f"{profile[key]['client_side_rest_median_ms']:.1f}" for key, _ in columns]
    total = [f"{profile[key]['total_median_ms']:.1f}" for key, _ in columns]
    lines.append("| client side, outside requests | " + " | ".join(rest) + " |")
    lines.append("| **total** | " + " | ".join(total) + " |")
    return [*lines, ""]


def report(result: dict[str, Any]) -> str:
    """A markdown section: the table (what, median ms, ratio, target, PASS/MISS) and the method."""
    ratio = result["ratio_step_vs_sdk"]
    target = result.get("target_step_vs_sdk", TARGET_STEP_VS_SDK)
    sdk = result["bare_sdk_median_ms"]

    def vs_sdk(key: str) -> str:
        return f"{result[key] / sdk:.2f}x" if sdk else "—"

    rows: list[tuple[str, float | None, str, str, str]] = [
        ("(a) `docker run --rm` (CLI)", result["docker_run_cli_median_ms"], vs_sdk("docker_run_cli_median_ms"), "—", "—"),
        ("(b) bare SDK create → start → wait → remove", sdk, "1.00x", "—", "—"),
        ("(c) `DockerRuntime.run`, defaults", result["docker_step_median_ms"], f"{ratio:.2f}x", f"(c) / (b) ≤ {target:.2f}", "PASS" if ratio <= target else "MISS"),
        ("(c) / (a)", None, f"{result['ratio_step_vs_cli']:.2f}x", "—", "—"),
        ("(b) with the runtime's sandbox kwargs", result["sdk_with_sandbox_median_ms"], vs_sdk("sdk_with_sandbox_median_ms"), "—", "—"),
        ("(c) / (b) with sandbox kwargs", None, f"{result['ratio_step_vs_sandbox_sdk']:.2f}x", "—", "—"),
        ("building the runtime's per-step client", result["client_build_median_ms"], "—", "—", "—"),
    ]  # fmt: skip
    for key, what in (("concurrency_sleep", "`sleep 1`"), ("concurrency_true", "`true`")):
        for level in result.get(key) or []:
            doubled = level["vs_n1"] is not None and level["vs_n1"] >= 2.0
            rows.append(
                (
                    f"(d) N={level['n']} concurrent {what} steps, per step",
                    level["median_ms"],
                    f"{level['vs_n1']:.2f}x N=1",
                    "< 2x N=1",
                    "MISS" if doubled else "PASS",
                )
            )
    lines = [
        "### Docker runtime: per-step cost",
        "",
        "| what | median ms | ratio | target | result |",
        "|---|---:|---:|---|---|",
    ]
    for what, median, ratio_text, target_text, status in rows:
        shown = "—" if median is None else f"{median:.1f}"
        lines.append(f"| {what} | {shown} | {ratio_text} | {target_text} | {status} |")
    lines += [
        "",
        "Largest N before the per-step time of concurrent `sleep 1` steps doubles vs N=1:"
        f" **{result.get('concurrency_max_n_before_double')}**"
        f" (`true` steps: {result.get('concurrency_true_max_n_before_double')}).",
        "",
        *_profile_table(result),
        f"Method: image `{result['image']}`, command `true`; every round runs (a), (b), (c) and"
        f" (b)+sandbox once in a rotated order, {result['warmups']} warm-up rounds, medians over"
        f" {result['repeats']} rounds (median of the per-round (c)/(b):"
        f" {result['ratio_step_vs_sdk_paired_median']:.2f}x); (c) is one `DockerRuntime` with the"
        " default `DockerConfig` and constructor (`poll_interval` 0.25 s, a fresh client per"
        " step), reused as a cycle does; (d) starts N threads at a barrier, each calling `run` on"
        " that runtime; all containers labelled `orchestra.project=bench-docker` and removed;"
        f" {result['cpus']} CPUs, load average {result['load_average_before'][0]:.2f} →"
        f" {result['load_average_after'][0]:.2f} (a shared machine: the medians are noisy).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

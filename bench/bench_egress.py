"""Benchmark: what egress by allowlist costs a Docker step (``network: egress``, the default).

(a) Per model request: inside one step container, 100 sequential HTTP GETs (a new connection
    each, as many API clients make) to a server of ours on the host, through the egress proxy
    (``network: egress``), against the same GETs made directly (``network: bridge``, the
    unfiltered opt-out). Timed inside the container, medians; the difference is the proxy's
    added latency per request.
(b) Per step: ``DockerRuntime.run`` of ``true`` in the worker image on ``egress`` with a
    runtime built alone (its own network and proxy sidecar per step, created and removed), with
    a kept runtime as a flow run's (one network and sidecar for all its steps, after the first)
    and on ``bridge``; rotated rounds, medians.

Target: the proxy adds ≤ 5 ms per request. Run: ``python -m bench --only egress``.
"""

from __future__ import annotations

import http.server
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

IMAGE = "orchestra-worker:latest"
REQUESTS = 100
ROUNDS = 5

_CLIENT = """
import json, os, statistics, sys, time, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
proxy = os.environ.get("HTTP_PROXY")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy} if proxy else {}))
times = []
for _ in range(n):
    start = time.perf_counter()
    opener.open(url, timeout=10).read()
    times.append(time.perf_counter() - start)
print(json.dumps({"median_ms": statistics.median(times) * 1000}))
"""


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"data": []}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        del args


def _step(runtime: Any, argv: list[str], root: Path, egress: tuple[str, ...]) -> Any:
    from orchestra.runtime import StepRequest

    (root / "ws").mkdir(exist_ok=True)
    (root / "out").mkdir(exist_ok=True)
    request = StepRequest(
        argv=argv,
        workspace=root / "ws",
        output_dir=root / "out",
        timeout=120,
        egress=egress,
        name="bench-egress",
    )
    return runtime.run(request)


def run(requests: int = REQUESTS, rounds: int = ROUNDS) -> dict[str, Any]:
    from loguru import logger

    from orchestra.config.runtimes import DockerConfig
    from orchestra.runtime import build_runtime

    logger.disable("orchestra.runtime.docker")
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    url = f"http://host.docker.internal:{port}/v1/models"
    runtimes = {
        name: build_runtime(
            DockerConfig(image=IMAGE, network=name.split("-")[0]),
            project_id="bench-egress",
            run_id="b",
            kill_grace=1,
            kept=name.endswith("-kept"),
        )
        for name in ("egress", "egress-kept", "bridge")
    }
    per_request: dict[str, list[float]] = {name: [] for name in runtimes}
    per_step: dict[str, list[float]] = {name: [] for name in runtimes}
    allow = (f"host.docker.internal:{port}",)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for round_ in range(rounds + 1):  # the first round warms up
                order = ["egress", "egress-kept", "bridge"]
                order = order if round_ % 2 else order[::-1]
                for net in order:
                    result = _step(
                        runtimes[net], ["python3", "-c", _CLIENT, url, str(requests)], root, allow
                    )
                    if result.exit_code != 0:
                        msg = f"client step on {net} failed: {result.output_tail}"
                        raise RuntimeError(msg)
                    start = time.perf_counter()
                    _step(runtimes[net], ["true"], root, allow)
                    took = time.perf_counter() - start
                    if round_:
                        per_request[net].append(json.loads(result.stdout)["median_ms"])
                        per_step[net].append(took)
    finally:
        for runtime in runtimes.values():
            runtime.close()
        server.shutdown()
        logger.enable("orchestra.runtime.docker")
    egress_ms = statistics.median(per_request["egress"])
    direct_ms = statistics.median(per_request["bridge"])
    return {
        "request_egress_ms": round(egress_ms, 2),
        "request_direct_ms": round(direct_ms, 2),
        "added_ms_per_request": round(egress_ms - direct_ms, 2),
        "step_egress_s": round(statistics.median(per_step["egress"]), 3),
        "step_bridge_s": round(statistics.median(per_step["bridge"]), 3),
        "added_s_per_step": round(
            statistics.median(per_step["egress"]) - statistics.median(per_step["bridge"]), 3
        ),
        "step_egress_kept_s": round(statistics.median(per_step["egress-kept"]), 3),
        "added_s_per_kept_step": round(
            statistics.median(per_step["egress-kept"]) - statistics.median(per_step["bridge"]), 3
        ),
        "requests": requests,
        "rounds": rounds,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

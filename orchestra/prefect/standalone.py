"""A standalone ``prefect server start`` in the background, on SQLite or on a database URL.

What the parallel tests and benches start (``orchestra server`` wires the same thing for users):
a server with its own home, its API on 127.0.0.1, its services (among them the lease
repossessor that frees the global-limit slots of killed runs), stopped with its process group.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestra.prefect.server import (
    HOST,
    free_port,
    kill_group,
    server_env,
    spawn_server,
    wait_healthy,
)

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0


@contextmanager
def prefect_server(home: Path, database_url: str | None = None, *, port: int = 0) -> Iterator[str]:
    """Run ``prefect server start`` until the block ends; yields its API URL."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = home / "server.log"
    # None of the caller's Prefect settings (a test's or a bench's API URL, home, ...).
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env = server_env(str(home), port, database_url, base) | {"PREFECT_UI_ENABLED": "false"}
    proc = spawn_server(port, env, log)
    url = f"http://{HOST}:{port}"
    try:
        wait_healthy(proc, url, log, READY_TIMEOUT_S, what=f"the Prefect server in {home}")
        yield f"{url}/api"
    finally:
        kill_group(proc.pid, STOP_TIMEOUT_S)

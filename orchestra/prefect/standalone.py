"""A standalone ``prefect server start`` in the background, on SQLite or on a database URL.

What the parallel tests and benches start (``orchestra server`` wires the same thing for users):
a server with its own home, its API on 127.0.0.1, its services (among them the lease
repossessor that frees the global-limit slots of killed runs), stopped with its process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestra.errors import ProjectError
from orchestra.prefect.postgres import free_port

READY_TIMEOUT_S = 120.0


def server_env(home: Path, database_url: str | None) -> dict[str, str]:
    """The environment ``prefect server start`` runs with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_CLI_PROMPT="false",
    )
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    return env


def wait_ready(api_url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Poll ``/health`` until the server answers; a clear error when it died or took too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
            msg = f"prefect server exited with {proc.returncode} before it was ready; its log {str(log)!r}:\n{tail}"
            raise ProjectError(msg)
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as reply:  # noqa: S310 - our own localhost URL
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    msg = f"prefect server at {api_url} not ready after {timeout:.0f} s; see {str(log)!r}"
    raise ProjectError(msg)


@contextmanager
def prefect_server(home: Path, database_url: str | None = None, *, port: int = 0) -> Iterator[str]:
    """Run ``prefect server start`` until the block ends; yields its API URL."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=server_env(home, database_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        wait_ready(api_url, proc, log, READY_TIMEOUT_S)
        yield api_url
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the server's process group, SIGKILL what is left after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass

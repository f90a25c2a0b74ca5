"""The processes of an Orchestra-managed Prefect server: its environment (with the services a
private server does not need switched off), ``prefect server start`` in a session of its own, the
wait for its health check, its idle watchdog, and stopping its process group.

No Prefect import here (the server is a subprocess, checked over HTTP).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from orchestra.errors import PrefectServerError

HOST = "127.0.0.1"
STOP_TIMEOUT_SECONDS = 20.0

#: Prefect server services an Orchestra-managed server runs without (docs/decisions.md): the
#: foreman only marks workers, pools and deployments offline for the UI, and the late-runs
#: service only relabels scheduled runs "Late" (workers pick those up either way).
QUIET_SERVICES = {
    "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
}


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    """Whether the Prefect API at ``api_url`` answers its health check."""
    if urlsplit(api_url).scheme not in {"http", "https"}:
        return False
    try:
        url = f"{api_url.rstrip('/')}/health"
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - scheme checked
            return int(answer.status) == 200
    except (OSError, ValueError):
        return False


def is_server_process(pid: int) -> bool:
    """Whether ``pid`` is alive and is a ``prefect server`` (not a reused pid, not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not the server we started
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True  # no /proc (macOS): trust the pid and the health check
    try:
        argv = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return b"prefect" in b" ".join(argv) and b"server" in argv


def is_watchdog(pid: int) -> bool:
    """Whether ``pid`` is an idle watchdog (:mod:`orchestra.prefect.idle`), not a reused pid."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"orchestra.prefect.idle" in argv


def free_port(host: str = HOST) -> int:
    """A port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def server_env(
    prefect_home: str, port: int, database_url: str | None, base: Mapping[str, str]
) -> dict[str, str]:
    """The server's environment: ours, minus any API URL (the server is not a client)."""
    env = {k: v for k, v in base.items() if k not in {"PREFECT_API_URL", "PREFECT_UI_URL"}}
    env.update(
        PREFECT_HOME=prefect_home,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_API_URL=f"http://{HOST}:{port}/api",
        PREFECT_CLI_PROMPT="false",
    )
    for name, value in QUIET_SERVICES.items():
        env.setdefault(name, value)  # a value the user set for a service wins
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    return env


def _log_tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def spawn_server(port: int, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``prefect server start`` on ``HOST:port`` in a session of its own (Ctrl-C on the command
    does not stop it; :func:`kill_group` does), its output in ``log``."""
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*argv, "--port", str(port)],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_healthy(
    proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float, *, what: str
) -> None:
    """Poll ``<url>/api/health`` until the server answers. Raises PrefectServerError (with the
    end of its log) when it exits first, or stays silent for ``timeout`` s (then it is stopped).
    """
    deadline = time.monotonic() + timeout
    while not healthy(f"{url}/api", timeout=1.0):
        if proc.poll() is not None:
            msg = (
                f"{what} exited with status {proc.returncode} before it answered on {url};"
                f" its log {log} ends with:\n{_log_tail(log)}"
            )
            raise PrefectServerError(msg)
        if time.monotonic() > deadline:
            kill_group(proc.pid)
            msg = (
                f"{what} did not answer on {url} within {timeout:.0f} s (stopped);"
                f" its log {log} ends with:\n{_log_tail(log)}"
            )
            raise PrefectServerError(msg)
        time.sleep(0.2)


def spawn_watchdog(state: Path, env: Mapping[str, str]) -> int:
    """Start :mod:`orchestra.prefect.idle` for the server recorded in ``state``, detached."""
    with (state / "idle.log").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestra.prefect.idle", str(state)],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc.pid


def _gone(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it when this process started it
    return not is_server_process(pid)


def kill_group(pid: int, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left after ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _gone(pid):
                return
            time.sleep(0.1)

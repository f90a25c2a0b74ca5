"""The project's own Prefect server: found when running, started in the background when not,
stopped on request, and the Prefect API it serves checked before anything runs.

The server is ``python -m prefect server start`` on 127.0.0.1 and a free port, in a session of
its own so it outlives the command that started it, with the project's ``PREFECT_HOME``. Its
record is ``<project>/.orchestra/server.json`` (pid, port, url, home, database, log). A record
whose process is gone, is not a Prefect server any more (pid reused) or does not answer is
stale: it is replaced. The database is a parameter (``database_url``, Prefect's
``PREFECT_API_DATABASE_CONNECTION_URL``), SQLite in ``PREFECT_HOME`` by default.

No Prefect import here: the server is started and checked over HTTP, before Prefect is imported
by the command (Prefect reads its settings from the environment on import).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from orchestra.clock import iso_utc, utc_now
from orchestra.errors import PrefectServerError

SERVER_FILE = "server.json"
LOCK_FILE = "server.lock"
LOG_FILE = "server.log"
HOST = "127.0.0.1"
#: A fresh database takes ~11 s on a quiet 2-core machine; several times that under load.
START_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 20.0
STOP_HINT = "orchestra server stop"


@dataclass(frozen=True)
class ServerRecord:
    """A Prefect server Orchestra started for one project."""

    pid: int
    port: int
    url: str
    """The UI's base URL; the API is under ``/api``."""
    prefect_home: str
    database: str
    """``sqlite`` or the database URL with its password hidden."""
    log: str
    started_at: str

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"


def state_dir(root: Path) -> Path:
    return root / ".orchestra"


def record_path(root: Path) -> Path:
    """``<project>/.orchestra/server.json``."""
    return state_dir(root) / SERVER_FILE


def read_record(root: Path) -> ServerRecord | None:
    """The recorded server, or None (no record, or one that cannot be read)."""
    try:
        data = json.loads(record_path(root).read_text(encoding="utf-8"))
        return ServerRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def _write_record(root: Path, record: ServerRecord) -> None:
    path = record_path(root)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


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


def running_server(root: Path, tries: int = 3) -> ServerRecord | None:
    """The project's server when its record is live: its process runs and its API answers."""
    record = read_record(root)
    if record is None or not is_server_process(record.pid):
        return None
    for attempt in range(tries):
        if healthy(record.api_url):
            return record
        if attempt + 1 < tries:
            time.sleep(1.0)
    return None


def free_port(host: str = HOST) -> int:
    """A port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def shown_database(database_url: str | None) -> str:
    """``sqlite`` or the URL without its password (the record and status are not secret)."""
    if not database_url:
        return "sqlite"
    parts = urlsplit(database_url)
    if parts.password is None:
        return database_url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.contextmanager
def _start_lock(root: Path) -> Iterator[None]:
    """One command at a time checks and starts the project's server."""
    state_dir(root).mkdir(parents=True, exist_ok=True)
    with (state_dir(root) / LOCK_FILE).open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def start_server(
    root: Path,
    prefect_home: str,
    *,
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT_SECONDS,
    port: int | None = None,
) -> ServerRecord:
    """Start a Prefect server for ``root`` in the background (on ``port``, else a free one),
    wait until it answers, record it.

    Raises PrefectServerError (with the end of the server's log) when it exits or stays silent.
    """
    Path(prefect_home).mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = state_dir(root) / LOG_FILE
    env = server_env(prefect_home, port, database_url, os.environ if environ is None else environ)
    proc = spawn_server(port, env, log)
    record = ServerRecord(
        pid=proc.pid,
        port=port,
        url=f"http://{HOST}:{port}",
        prefect_home=prefect_home,
        database=shown_database(database_url),
        log=str(log),
        started_at=iso_utc(utc_now()),
    )
    wait_healthy(proc, record.url, log, timeout, what=f"the Prefect server for {root}")
    _write_record(root, record)
    return record


def ensure_server(
    root: Path,
    prefect_home: str,
    *,
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    port: int | None = None,
) -> tuple[ServerRecord, bool]:
    """The project's running server, started first (on ``port``, else a free one) when there
    is none; (record, started now)."""
    with _start_lock(root):
        live = running_server(root)
        if live is not None:
            return live, False
        stale = read_record(root)
        if stale is not None:
            if is_server_process(stale.pid):
                kill_group(stale.pid)  # ours but not answering: hung
            record_path(root).unlink(missing_ok=True)
        record = start_server(
            root, prefect_home, database_url=database_url, environ=environ, port=port
        )
        return record, True


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


def stop_server(root: Path) -> ServerRecord | None:
    """Stop the project's server and remove its record; the record it had (None: none)."""
    with _start_lock(root):
        record = read_record(root)
        if record is None:
            return None
        if is_server_process(record.pid):
            kill_group(record.pid)
        record_path(root).unlink(missing_ok=True)
        return record


def check_api(api_url: str, *, fix: str) -> None:
    """Raise PrefectServerError naming ``api_url`` and ``fix`` unless the API answers."""
    for attempt in range(3):
        if healthy(api_url, timeout=3.0):
            return
        if attempt < 2:
            time.sleep(1.0)
    msg = f"the Prefect API at {api_url} does not answer ({api_url}/health); {fix}"
    raise PrefectServerError(msg)


def run_link(ui_url: str, flow_run_id: object) -> str:
    """The Prefect UI page of one flow run."""
    return f"{ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"

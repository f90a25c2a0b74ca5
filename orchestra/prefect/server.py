"""An Orchestra-managed Prefect server: found when running, started in the background when not,
stopped on request, and the Prefect API it serves checked before anything runs.

The server is ``python -m prefect server start`` on 127.0.0.1 and a free port, in a session of
its own so it outlives the command that started it. Its state folder holds its record
``server.json`` (pid, port, url, home, database, log), ``server.lock`` and ``server.log``: the
user-level server's is its home under the user's data folder (:mod:`orchestra.prefect.userserver`),
a project's own server's is ``<project>/.orchestra`` (the ``*_at`` functions take the folder, the
others a project). A record whose process is gone, is not a Prefect server any more (pid reused)
or does not answer is stale: it is replaced. The database is a parameter (``database_url``,
Prefect's ``PREFECT_API_DATABASE_CONNECTION_URL``), SQLite in ``PREFECT_HOME`` by default. The
server services a private server does not need are off (:data:`QUIET_SERVICES`).

No Prefect import here: the server is started and checked over HTTP, before Prefect is imported
by the command (Prefect reads its settings from the environment on import).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from orchestra.clock import iso_utc, utc_now
from orchestra.errors import PrefectServerError
from orchestra.prefect.serverproc import (
    HOST,
    QUIET_SERVICES,
    free_port,
    healthy,
    is_server_process,
    is_watchdog,
    kill_group,
    server_env,
    spawn_server,
    spawn_watchdog,
    wait_healthy,
)

__all__ = [
    "HOST",
    "QUIET_SERVICES",
    "ServerRecord",
    "check_api",
    "ensure_at",
    "ensure_server",
    "free_port",
    "healthy",
    "is_server_process",
    "kill_group",
    "read_record",
    "read_record_at",
    "record_path",
    "run_link",
    "running_at",
    "running_server",
    "server_env",
    "spawn_server",
    "start_at",
    "start_server",
    "stop_at",
    "stop_server",
    "wait_healthy",
]

SERVER_FILE = "server.json"
LOCK_FILE = "server.lock"
LOG_FILE = "server.log"
ACTIVITY_FILE = "server.active"
#: A fresh database takes ~11 s on a quiet 2-core machine; several times that under load.
START_TIMEOUT_SECONDS = 180.0
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
    idle_stop_minutes: float | None = None
    """The server stops itself after this long without runs or active schedules (None: never)."""
    watchdog_pid: int | None = None
    """The process that stops it when idle (:mod:`orchestra.prefect.idle`)."""

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"


def state_dir(root: Path) -> Path:
    return root / ".orchestra"


def record_path(root: Path) -> Path:
    """``<project>/.orchestra/server.json``."""
    return state_dir(root) / SERVER_FILE


def read_record(root: Path) -> ServerRecord | None:
    """The project's recorded server, or None (no record, or one that cannot be read)."""
    return read_record_at(state_dir(root))


def read_record_at(state: Path) -> ServerRecord | None:
    """The server recorded in the folder ``state``, or None (none, or unreadable)."""
    try:
        data = json.loads((state / SERVER_FILE).read_text(encoding="utf-8"))
        return ServerRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def write_record_at(state: Path, record: ServerRecord) -> None:
    path = state / SERVER_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def running_server(root: Path, tries: int = 3) -> ServerRecord | None:
    """The project's server when its record is live: its process runs and its API answers."""
    return running_at(state_dir(root), tries)


def running_at(state: Path, tries: int = 3) -> ServerRecord | None:
    """The server recorded in ``state`` when live: its process runs and its API answers."""
    record = read_record_at(state)
    if record is None or not is_server_process(record.pid):
        return None
    for attempt in range(tries):
        if healthy(record.api_url):
            return record
        if attempt + 1 < tries:
            time.sleep(1.0)
    return None


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
def start_lock(state: Path) -> Iterator[None]:
    """One command at a time checks, starts or stops the server recorded in ``state``."""
    state.mkdir(parents=True, exist_ok=True)
    with (state / LOCK_FILE).open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    return start_at(
        state_dir(root),
        prefect_home,
        what=f"the Prefect server for {root}",
        database_url=database_url,
        environ=environ,
        timeout=timeout,
        port=port,
    )


def start_at(
    state: Path,
    prefect_home: str,
    *,
    what: str,
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT_SECONDS,
    port: int | None = None,
    idle_stop_minutes: float | None = None,
) -> ServerRecord:
    """:func:`start_server` with its record, lock and log in the folder ``state``; with
    ``idle_stop_minutes``, a watchdog stops it after that long idle."""
    Path(prefect_home).mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = state / LOG_FILE
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
        idle_stop_minutes=idle_stop_minutes,
    )
    wait_healthy(proc, record.url, log, timeout, what=what)
    if idle_stop_minutes is not None:
        record = replace(record, watchdog_pid=spawn_watchdog(state, env))
    write_record_at(state, record)
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
    return ensure_at(
        state_dir(root),
        prefect_home,
        what=f"the Prefect server for {root}",
        database_url=database_url,
        environ=environ,
        port=port,
    )


def ensure_at(
    state: Path,
    prefect_home: str,
    *,
    what: str,
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    port: int | None = None,
    idle_stop_minutes: float | None = None,
) -> tuple[ServerRecord, bool]:
    """:func:`ensure_server` for the server recorded in ``state``. Marks it in use
    (:func:`touch_activity`) while holding its lock, so an idle watchdog deciding at the same
    moment sees the command that is about to use it."""
    with start_lock(state):
        touch_activity(state)
        live = running_at(state)
        if live is not None:
            return live, False
        stale = read_record_at(state)
        if stale is not None:
            _stop_processes(stale)  # ours but not answering: hung
            (state / SERVER_FILE).unlink(missing_ok=True)
        record = start_at(
            state,
            prefect_home,
            what=what,
            database_url=database_url,
            environ=environ,
            port=port,
            idle_stop_minutes=idle_stop_minutes,
        )
        touch_activity(state)  # the idle clock starts when it answers, not when it was asked for
        return record, True


def touch_activity(state: Path) -> None:
    """A command is about to use the server in ``state``: the idle clock starts again."""
    (state / ACTIVITY_FILE).touch()


def last_activity(state: Path) -> float:
    """When a command last used the server in ``state`` (epoch seconds; 0: never)."""
    try:
        return (state / ACTIVITY_FILE).stat().st_mtime
    except OSError:
        return 0.0


def stop_server(root: Path) -> ServerRecord | None:
    """Stop the project's server and remove its record; the record it had (None: none)."""
    return stop_at(state_dir(root))


def stop_at(state: Path) -> ServerRecord | None:
    """Stop the server recorded in ``state`` and remove its record; the record it had."""
    with start_lock(state):
        record = read_record_at(state)
        if record is None:
            return None
        _stop_processes(record)
        (state / SERVER_FILE).unlink(missing_ok=True)
        return record


def _stop_processes(record: ServerRecord) -> None:
    if is_server_process(record.pid):
        kill_group(record.pid)
    watchdog = record.watchdog_pid
    if watchdog and watchdog != os.getpid() and is_watchdog(watchdog):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(watchdog, signal.SIGTERM)


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

"""The user-level Prefect server: one Orchestra-managed server per user, shared by every project.

Its home is ``$XDG_DATA_HOME/orchestra/server`` (``~/.local/share/orchestra/server`` when
``XDG_DATA_HOME`` is unset or not absolute, as the XDG spec says): the record, lock and log of
:mod:`orchestra.prefect.server`, and ``prefect/`` (its ``PREFECT_HOME``, with the SQLite
database), ``server.port`` (the port it had last: it gets it again when free, so a worker's or
a shell's ``PREFECT_API_URL`` stays right after a restart). Projects tell their runs apart by name and tag (``<project> · <time>``,
``project:<name>``). A watchdog stops it after ``server.idle_stop_minutes`` idle
(:mod:`orchestra.prefect.idle`); the next cycle starts it again.

No Prefect import here.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping
from pathlib import Path

from orchestra.prefect.server import (
    HOST,
    ServerRecord,
    ensure_at,
    read_record_at,
    running_at,
    stop_at,
)

WHAT = "the user-level Prefect server"
PORT_FILE = "server.port"


def user_home(environ: Mapping[str, str] | None = None) -> Path:
    """The user-level server's home folder."""
    env = os.environ if environ is None else environ
    data = env.get("XDG_DATA_HOME", "")
    if data and Path(data).is_absolute():
        return Path(data) / "orchestra" / "server"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".local" / "share" / "orchestra" / "server"


def user_prefect_home(environ: Mapping[str, str] | None = None) -> str:
    """The server's ``PREFECT_HOME`` (its database), inside its home."""
    return str(user_home(environ) / "prefect")


def running_user_server(
    environ: Mapping[str, str] | None = None, tries: int = 3
) -> ServerRecord | None:
    """The user-level server when it runs and answers."""
    return running_at(user_home(environ), tries)


def ensure_user_server(
    *,
    idle_stop_minutes: float | None,
    environ: Mapping[str, str] | None = None,
    port: int | None = None,
) -> tuple[ServerRecord, bool]:
    """The user-level server, started first when none runs (on ``port``, else the port it had
    last when free, else a free one); (record, started now)."""
    home = user_home(environ)
    record, started = ensure_at(
        home,
        user_prefect_home(environ),
        what=WHAT,
        environ=environ,
        port=port or last_port(home),
        idle_stop_minutes=idle_stop_minutes,
    )
    if started:
        (home / PORT_FILE).write_text(f"{record.port}\n", encoding="utf-8")
    return record, started


def revive(
    api_url: str, *, idle_stop_minutes: float | None, environ: Mapping[str, str] | None = None
) -> bool:
    """Start the user-level server again on its last port when ``api_url`` is where it was
    (it stopped itself when idle); whether it was started."""
    port = last_port(user_home(environ))
    if port is None or api_url.rstrip("/") != f"http://{HOST}:{port}/api":
        return False
    ensure_user_server(idle_stop_minutes=idle_stop_minutes, environ=environ, port=port)
    return True


def last_port(home: Path) -> int | None:
    """The port the server in ``home`` had last, when nothing listens on it now."""
    try:
        port = int((home / PORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
        sock.bind((HOST, port))
        return port
    return None


def stop_user_server(environ: Mapping[str, str] | None = None) -> ServerRecord | None:
    """Stop the user-level server; the record it had (None: none was recorded)."""
    return stop_at(user_home(environ))


def is_user_server(api_url: str | None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``api_url`` is the user-level server's API (as recorded now)."""
    if not api_url:
        return False
    record = read_record_at(user_home(environ))
    return record is not None and record.api_url == api_url.rstrip("/")

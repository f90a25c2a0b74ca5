"""Which Prefect API a command uses: the one the user set, or an Orchestra-managed server.

A ``PREFECT_API_URL`` the user set always wins; it must answer, or the command stops with its
URL and the fix. Without one: the project's own server while one runs (a project that asks for
one with ``server.scope: project``, or one an earlier version started: it keeps working until
it is stopped), else a server of its own when the config asks for one, else the user-level
server shared by every project (:mod:`orchestra.prefect.userserver`); either is started in the
background first when none runs. The choice is put into the environment before Prefect is
imported, and into Prefect's settings for callers that imported it already.

:func:`connect_soon` overlaps a server's start with the caller's imports (the cold start of
``python -m flows.run``): the server's port is chosen first, so its URL is in the environment
before Prefect is imported, while the server starts and is waited for on a thread.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestra.config.server import ServerConfig
from orchestra.prefect.limits import mark_private
from orchestra.prefect.server import (
    HOST,
    ServerRecord,
    check_api,
    ensure_at,
    free_port,
    run_link,
    running_server,
    state_dir,
)
from orchestra.prefect.userserver import (
    ensure_user_server,
    last_port,
    running_user_server,
    user_home,
)

UNREACHABLE_FIX = (
    "start that server (the Compose stack: `make stack-up`), or unset PREFECT_API_URL so that"
    " Orchestra uses its own server (the user-level one, or the project's)"
)


@dataclass(frozen=True)
class PrefectApi:
    """The Prefect API a command talks to, and where its UI is."""

    api_url: str
    ui_url: str
    server: ServerRecord | None = None
    """The Orchestra-managed server (None: the user's PREFECT_API_URL)."""
    started: bool = False
    """The server was started by this command."""
    shared: bool = False
    """The server is the user-level one, shared by every project (else the project's own)."""

    def link(self, flow_run_id: object) -> str:
        """The UI page of one flow run."""
        return run_link(self.ui_url, flow_run_id)


def user_api_url(environ: MutableMapping[str, str]) -> str | None:
    """The API URL the user set: in the environment, or in Prefect's settings if loaded."""
    if environ.get("PREFECT_API_URL"):
        return environ["PREFECT_API_URL"]
    if "prefect.settings" in sys.modules:  # e.g. a test harness set it in-process
        from prefect.settings import PREFECT_API_URL

        value = PREFECT_API_URL.value()
        return str(value) if value else None
    return None


def connect(
    root: Path,
    prefect_home: str,
    *,
    database_url: str | None = None,
    environ: MutableMapping[str, str] | None = None,
    server: ServerConfig | None = None,
) -> PrefectApi:
    """Pick the API for ``root`` (starting its server if needed) and point Prefect at it.
    ``server`` is the project's ``server:`` config (default: read from its config files)."""
    env = os.environ if environ is None else environ
    user = user_api_url(env)
    if user:
        check_api(user, fix=UNREACHABLE_FIX)
        ui = env.get("PREFECT_UI_URL") or user.rstrip("/").removesuffix("/api")
        return PrefectApi(user, ui)
    return _managed(root, prefect_home, database_url, env, _server_config(root, server))


def _server_config(root: Path, server: ServerConfig | None) -> ServerConfig:
    if server is not None:
        return server
    from orchestra.config.loader import load_config

    return load_config(root).config.server


def _point_at(env: MutableMapping[str, str], url: str) -> None:
    env["PREFECT_API_URL"] = f"{url}/api"
    env["PREFECT_UI_URL"] = url
    # One cycle at a time per project (the cycle lock): agent slots bound in-process, and the
    # limits a cycle still asks the server for are named per project (orchestra.prefect.limits).
    mark_private(f"{url}/api")


def _managed(
    root: Path,
    prefect_home: str,
    database_url: str | None,
    env: MutableMapping[str, str],
    server: ServerConfig,
    port: int | None = None,
) -> PrefectApi:
    own = running_server(root, tries=1)
    if own is not None or server.own:
        record, started = ensure_at(
            state_dir(root),
            prefect_home,
            what=f"the Prefect server for {root}",
            database_url=database_url,
            environ=env,
            port=port,
            idle_stop_minutes=server.idle_stop_minutes,
        )
        shared = False
    else:
        record, started = ensure_user_server(
            idle_stop_minutes=server.idle_stop_minutes, environ=env, port=port
        )
        shared = True
    _point_at(env, record.url)
    return PrefectApi(record.api_url, record.url, record, started, shared)


@dataclass
class Connecting:
    """A :func:`connect` under way on a thread; :meth:`wait` gives its API or raises its error."""

    api: PrefectApi | None = None
    error: BaseException | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    def wait(self) -> PrefectApi:
        if self.thread is not None:
            self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.api is not None
        return self.api


def connect_soon(
    root: Path,
    prefect_home: str,
    *,
    environ: MutableMapping[str, str] | None = None,
    server: ServerConfig | None = None,
) -> Connecting:
    """:func:`connect`, returning at once when a server must be started: its URL is put into
    the environment now (a free port chosen first) and the start runs on a thread."""
    env = os.environ if environ is None else environ
    server = _server_config(root, server)
    if (
        user_api_url(env)
        or running_server(root, tries=1) is not None
        or (not server.own and running_user_server(env, tries=1) is not None)
    ):
        return Connecting(api=connect(root, prefect_home, environ=env, server=server))
    port = (None if server.own else last_port(user_home(env))) or free_port()
    _point_at(env, f"http://{HOST}:{port}")
    connecting = Connecting()

    def start() -> None:
        try:
            # Another command may start the server first: its own URL then replaces ours.
            connecting.api = _managed(root, prefect_home, None, env, server, port)
        except BaseException as exc:  # handed to the caller by wait()
            connecting.error = exc

    connecting.thread = threading.Thread(target=start, name="prefect-server-start", daemon=True)
    connecting.thread.start()
    return connecting


@contextlib.contextmanager
def prefect_settings(api: PrefectApi) -> Iterator[None]:
    """Prefect's settings pointed at ``api`` for this block (for a Prefect imported earlier)."""
    if api.server is None:
        yield
        return
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api.api_url, PREFECT_UI_URL: api.ui_url}):
        yield

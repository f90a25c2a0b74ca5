"""Which Prefect API a command uses: the one the user set, or the project's own server.

A ``PREFECT_API_URL`` the user set always wins; it must answer, or the command stops with its
URL and the fix. Without one, the project's server is used, started in the background first when
none runs (:mod:`orchestra.prefect.server`). The choice is put into the environment before
Prefect is imported, and into Prefect's settings for callers that imported it already.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from orchestra.prefect.limits import mark_private
from orchestra.prefect.server import ServerRecord, check_api, ensure_server, run_link

UNREACHABLE_FIX = (
    "start that server (the Compose stack: `make stack-up`), or unset PREFECT_API_URL so that"
    " Orchestra uses the project's own server"
)


@dataclass(frozen=True)
class PrefectApi:
    """The Prefect API a command talks to, and where its UI is."""

    api_url: str
    ui_url: str
    server: ServerRecord | None = None
    """The project's own server (None: the user's PREFECT_API_URL)."""
    started: bool = False
    """The project's server was started by this command."""

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
) -> PrefectApi:
    """Pick the API for ``root`` (starting its server if needed) and point Prefect at it."""
    env = os.environ if environ is None else environ
    user = user_api_url(env)
    if user:
        check_api(user, fix=UNREACHABLE_FIX)
        ui = env.get("PREFECT_UI_URL") or user.rstrip("/").removesuffix("/api")
        return PrefectApi(user, ui)
    record, started = ensure_server(root, prefect_home, database_url=database_url, environ=env)
    env["PREFECT_API_URL"] = record.api_url
    env["PREFECT_UI_URL"] = record.url
    mark_private(record.api_url)  # this project's cycles only: agent slots bound in-process
    return PrefectApi(record.api_url, record.url, record, started)


@contextlib.contextmanager
def prefect_settings(api: PrefectApi) -> Iterator[None]:
    """Prefect's settings pointed at ``api`` for this block (for a Prefect imported earlier)."""
    if api.server is None:
        yield
        return
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api.api_url, PREFECT_UI_URL: api.ui_url}):
        yield

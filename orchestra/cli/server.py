"""``orchestra server start|status|stop``: the project's own Prefect server.

``python -m flows.run`` starts it in the background when none runs (and no PREFECT_API_URL is
set); these commands show it, start it ahead of time, and stop it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from orchestra.errors import OrchestraError
from orchestra.workspace.git import find_root

server_app = typer.Typer(
    no_args_is_help=True, help="The project's own Prefect server (UI and API on 127.0.0.1)."
)
console = Console(highlight=False, soft_wrap=True)
ProjectOpt = Annotated[Path, typer.Option("--project", "-p", help="git repository (default: .)")]


def _describe(url: str, pid: int, home: str, database: str, log: str) -> str:
    return (
        f"UI {url}  API {url}/api\npid {pid}  PREFECT_HOME {home}\ndatabase {database}  log {log}"
    )


@server_app.command()
def start(project: ProjectOpt = Path()) -> None:
    """Start the project's Prefect server in the background (or show the one running)."""
    from orchestra.prefect.env import configure_prefect_env
    from orchestra.prefect.server import ensure_server

    root = find_root(project)
    home = configure_prefect_env(root)
    try:
        record, started = ensure_server(root, home)
    except OrchestraError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    state = "started" if started else "already running"
    console.print(f"Prefect server {state} for {root}")
    console.print(
        _describe(record.url, record.pid, record.prefect_home, record.database, record.log)
    )
    if os.environ.get("PREFECT_API_URL"):
        console.print(
            f"[yellow]note:[/] PREFECT_API_URL is set ({os.environ['PREFECT_API_URL']}): cycles"
            " use that API, not this server, until it is unset"
        )


@server_app.command()
def status(project: ProjectOpt = Path()) -> None:
    """Say whether the project's Prefect server runs: its URL, pid and PREFECT_HOME (exit 1: not)."""
    from orchestra.prefect.server import read_record, record_path, running_server

    root = find_root(project)
    record = running_server(root)
    if record is not None:
        console.print(f"Prefect server running for {root} (since {record.started_at})")
        console.print(
            _describe(record.url, record.pid, record.prefect_home, record.database, record.log)
        )
        return
    stale = read_record(root)
    if stale is None:
        console.print(f"no Prefect server runs for {root} (`orchestra server start` starts one)")
    else:
        console.print(
            f"no Prefect server runs for {root}: the record {record_path(root)} names pid"
            f" {stale.pid} on {stale.url}, which is gone or does not answer; the next cycle or"
            " `orchestra server start` replaces it"
        )
    raise typer.Exit(1)


@server_app.command()
def stop(project: ProjectOpt = Path()) -> None:
    """Stop the project's Prefect server and remove its record."""
    from orchestra.prefect.server import stop_server

    root = find_root(project)
    record = stop_server(root)
    if record is None:
        console.print(f"no Prefect server recorded for {root}: nothing to stop")
        return
    console.print(f"stopped the Prefect server of {root} (pid {record.pid}, {record.url})")

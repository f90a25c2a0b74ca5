"""``orchestra server start|status|stop``: the Prefect server Orchestra manages.

Without ``--project``: the user-level server, shared by every project
(:mod:`orchestra.prefect.userserver`). With ``--project DIR``: that project's own server, for a
project whose config asks for one (``server.scope: project``), or one an earlier version started
(it keeps working until it is stopped). ``python -m flows.run`` starts the right one in the
background when none runs (and no PREFECT_API_URL is set); these commands show it, start it
ahead of time, and stop it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from orchestra.config.server import ServerConfig
from orchestra.errors import OrchestraError
from orchestra.prefect.server import ServerRecord
from orchestra.workspace.git import find_root

server_app = typer.Typer(
    no_args_is_help=True,
    help="Orchestra's Prefect server (UI and API on 127.0.0.1): the user-level one, or with"
    " --project a project's own.",
)
console = Console(highlight=False, soft_wrap=True)
ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project",
        "-p",
        help="the server this project uses: its own if it has one (default: the user-level one)",
    ),
]
IdleOpt = Annotated[
    float | None,
    typer.Option(
        "--idle-minutes",
        min=0.01,
        help="stop after this long idle (default: server.idle_stop_minutes of the config)",
    ),
]


def _describe(record: ServerRecord) -> str:
    idle = (
        f"stops itself after {record.idle_stop_minutes:g} min idle"
        if record.idle_stop_minutes
        else "runs until `orchestra server stop`"
    )
    return (
        f"UI {record.url}  API {record.api_url}\npid {record.pid}  PREFECT_HOME"
        f" {record.prefect_home}\ndatabase {record.database}  log {record.log}\n{idle}"
    )


def _fail(exc: OrchestraError) -> typer.Exit:
    console.print(f"[red]error:[/] {exc}")
    return typer.Exit(2)


def _config(root: Path | None) -> ServerConfig:
    """The ``server:`` config of ``root`` (None: the user's config file alone)."""
    from orchestra.config.loader import load_config

    return load_config(root).config.server


def _api_url_note() -> None:
    if os.environ.get("PREFECT_API_URL"):
        console.print(
            f"[yellow]note:[/] PREFECT_API_URL is set ({os.environ['PREFECT_API_URL']}): cycles"
            " use that API, not this server, until it is unset"
        )


@server_app.command()
def start(project: ProjectOpt = None, idle_minutes: IdleOpt = None) -> None:
    """Start the server in the background (or show the one running); with --project, the one
    that project's cycles use: its own, else the user-level one."""
    from orchestra.prefect.env import configure_prefect_env
    from orchestra.prefect.server import ensure_at, running_server, state_dir
    from orchestra.prefect.userserver import WHAT, ensure_user_server

    root = find_root(project) if project is not None else None
    try:
        config = _config(root)
        idle = idle_minutes or config.idle_stop_minutes
        if root is not None and (config.own or running_server(root, tries=1) is not None):
            home = configure_prefect_env(root)
            what = f"the Prefect server of {root}"
            record, started = ensure_at(state_dir(root), home, what=what, idle_stop_minutes=idle)
        else:
            record, started = ensure_user_server(idle_stop_minutes=idle)
            what = f"{WHAT} (shared by your projects)"
    except OrchestraError as exc:
        raise _fail(exc) from exc
    console.print(f"{what[0].upper()}{what[1:]}: {'started' if started else 'already running'}")
    console.print(_describe(record))
    _api_url_note()


@server_app.command()
def status(project: ProjectOpt = None) -> None:
    """Say whether the server runs: its URL, pid and PREFECT_HOME (exit 1: not); with
    --project, the one that project's cycles use."""
    from orchestra.prefect.server import read_record, record_path, running_server
    from orchestra.prefect.userserver import WHAT, running_user_server, user_home

    if project is None:
        record = running_user_server()
        if record is not None:
            console.print(f"{WHAT} is running (since {record.started_at}), shared by your projects")
            console.print(_describe(record))
            return
        console.print(
            f"{WHAT} is not running (home {user_home()}); the next cycle or"
            " `orchestra server start` starts it"
        )
        raise typer.Exit(1)
    root = find_root(project)
    record = running_server(root)
    if record is not None:
        console.print(f"the Prefect server of {root} is running (since {record.started_at})")
        console.print(_describe(record))
        return
    stale = read_record(root)
    if stale is not None:
        console.print(
            f"no Prefect server of its own runs for {root}: the record {record_path(root)} names"
            f" pid {stale.pid} on {stale.url}, which is gone or does not answer"
        )
    else:
        console.print(f"no Prefect server of its own runs for {root}")
    try:
        own = _config(root).own
    except OrchestraError as exc:
        raise _fail(exc) from exc
    if own:
        raise typer.Exit(1)
    console.print(f"its cycles use {WHAT}, shared by your projects:")
    status(None)


@server_app.command()
def stop(project: ProjectOpt = None) -> None:
    """Stop the server and remove its record; with --project, that project's own server only
    (the user-level one is shared)."""
    from orchestra.prefect.server import stop_server
    from orchestra.prefect.userserver import WHAT, stop_user_server

    if project is None:
        record = stop_user_server()
        if record is None:
            console.print(f"{WHAT} is not recorded: nothing to stop")
            return
        console.print(
            f"stopped {WHAT} (pid {record.pid}, {record.url}); the next cycle of any project"
            " starts it again"
        )
        return
    root = find_root(project)
    record = stop_server(root)
    if record is None:
        console.print(
            f"no Prefect server of its own recorded for {root}: nothing to stop (the user-level"
            " server it may use is shared: `orchestra server stop` stops that one)"
        )
        return
    console.print(f"stopped the Prefect server of {root} (pid {record.pid}, {record.url})")


@server_app.command()
def url(project: ProjectOpt = None) -> None:
    """Print the running server's API URL, for `export PREFECT_API_URL=$(orchestra server url)`
    (exit 1: none runs); with --project, the one that project's cycles use."""
    from orchestra.prefect.server import running_server
    from orchestra.prefect.userserver import running_user_server

    record = None
    if project is not None:
        root = find_root(project)
        record = running_server(root)
        try:
            own = _config(root).own
        except OrchestraError as exc:
            raise _fail(exc) from exc
        if record is None and own:
            raise typer.Exit(1)
    record = record or running_user_server()
    if record is None:
        raise typer.Exit(1)
    typer.echo(record.api_url)

"""One ad-hoc cycle from the command line, with progress: what ``python -m flows.run`` and
``orchestra run`` both do. The cycle flow is passed in (``load_flow``), so this library module
never imports the flows; it is loaded only after Prefect's settings are in place: the user's
``PREFECT_API_URL``, else the user-level Prefect server shared by every project (or the
project's own, :mod:`orchestra.prefect.connect`), started in the background when none runs and
left running until it is idle (the flows are imported while it starts). The run's UI link is printed as
the run starts, before its first step.

Exit codes: 0 the cycle succeeded; 1 it ran but a task failed or the queue stayed empty, or it
was skipped (kill switch, another cycle running); 2 bad input (config, project, agent, Docker)
found before anything was claimed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from orchestra.errors import OrchestraError, RunFailed
from orchestra.prefect.connect import PrefectApi, connect_soon, prefect_settings
from orchestra.prefect.env import configure_prefect_env

console = Console(highlight=False, soft_wrap=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of one ad-hoc cycle."""
    parser = argparse.ArgumentParser(
        prog="python -m flows.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--project", default=".", help="git repository to work on (default: .)")
    parser.add_argument(
        "--config", action="append", default=[], metavar="FILE", help="extra config overlay"
    )
    parser.add_argument("--goal", help="what the planner works towards (overrides the config)")
    parser.add_argument(
        "--max-tasks", type=int, help="tasks to run this cycle (overrides the config)"
    )
    parser.add_argument("--plan-only", action="store_true", help="fill the queue, run nothing")
    parser.add_argument(
        "--dry-run", action="store_true", help="check everything and show what would run"
    )
    return parser.parse_args(argv)


def _check(args: argparse.Namespace) -> Any:
    """Open the project and preflight the workers: fast feedback, before Prefect starts."""
    from orchestra.engine.preflight import preflight
    from orchestra.prefect.runs import runtime_pool
    from orchestra.project import open_project

    project = open_project(args.project, args.config, goal=args.goal, max_tasks=args.max_tasks)
    preflight(project, runtime_pool(project), "preflight")
    return project


def _dry_run(project: Any) -> int:
    pending = project.queue.pending()
    wf = project.config.workflows.infinite_orchestra
    console.print(f"[bold]Dry run[/] for {project.root} (config: {', '.join(project.sources)})")
    if not pending:
        console.print(
            f"queue {project.layout.queue} is empty: the planner ({wf.planner}) would run first"
        )
    for path in pending[: wf.max_tasks_per_cycle]:
        console.print(f"would run {path.name}")
    steps = " → ".join(
        f"{s.id} ({s.worker})" for s in project.config.workflows.roocode_boomerang.steps
    )
    console.print(f"workflow: {steps}")
    return 0


def _not_progress(record: Any) -> bool:
    return "event" not in record["extra"]


def _progress_sink(message: Any) -> None:
    record = message.record
    event = record["extra"].get("event")
    if event:
        style = {"start": "cyan", "running": "blue", "ok": "green", "done": "green"}.get(
            event, "red"
        )
        console.print(f"[{style}]{record['message']}[/]")


def _announce(api: PrefectApi, root: Path) -> None:
    """Which Prefect API the cycle uses; for Orchestra's server, that it keeps running."""
    server = api.server
    if server is None:
        console.print(f"Prefect API {api.api_url} (PREFECT_API_URL)")
        return
    how = "started in the background" if api.started else "already running"
    which = (
        "the user-level server, shared by your projects" if api.shared else "the project's server"
    )
    stop = "`orchestra server stop`" if api.shared else f"`orchestra server stop --project {root}`"
    idle = (
        f"it stops itself after {server.idle_stop_minutes:g} min idle, or"
        if server.idle_stop_minutes
        else "it keeps running after this command:"
    )
    console.print(f"Prefect UI {server.url} ({which}, {how}, pid {server.pid}; {idle} {stop})")


def _link_hook(api: PrefectApi) -> Callable[..., None]:
    """A flow hook that prints the cycle's UI page as the run starts, before any step."""

    def print_link(flow: Any, flow_run: Any, state: Any) -> None:
        console.print(f"[bold]Watch it live:[/] {api.link(flow_run.id)}")

    return print_link


def _report(data: dict[str, Any], ok: bool, message: str, link: str) -> None:
    from rich.table import Table

    table = Table(title="Orchestra cycle", show_lines=False)
    columns = (
        "task",
        "title",
        "status",
        "steps",
        "reason",
        "integration",
        "host",
        "alongside",
        "queue",
    )
    for col in columns:
        table.add_column(col)
    for task in data.get("tasks", []):
        table.add_row(*(str(task.get(c, ""))[:80] for c in columns))
    console.print(table)
    console.print(f"[bold]{data.get('headline', message)}[/]")
    console.print(f"queue: {data.get('queue_dir')}  reports: {data.get('runs_dir')}")
    console.print(f".orchestra/ uses {data.get('disk_mb', 0)} MB (old run folders are pruned)")
    console.print(f"Prefect UI: {link}")
    console.print("[green]cycle succeeded[/]" if ok else f"[red]cycle failed:[/] {message}")


def main(argv: Sequence[str] | None, load_flow: Callable[[], Any]) -> int:
    """Run one cycle with the flow ``load_flow()`` returns; return the process exit code."""
    args = parse_args(argv)
    from loguru import logger

    logger.remove()  # the console shows progress and errors; the details go to the JSONL log
    logger.add(sys.stderr, level="WARNING", format="{level:<8} {message}", filter=_not_progress)
    try:
        project = _check(args)
    except OrchestraError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 2
    prefect_home = configure_prefect_env(project.root)
    # Step output goes to the Prefect UI and the JSONL log; the console shows progress lines.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    if args.dry_run:
        return _dry_run(project)
    try:
        connecting = connect_soon(project.root, prefect_home, server=project.config.server)
        try:
            flow = load_flow()  # Prefect and the flows are imported while the server starts
        finally:
            api = connecting.wait()
    except OrchestraError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 2
    _announce(api, project.root)

    flow = flow.with_options(on_running=[*flow.on_running_hooks, _link_hook(api)])
    logger.add(_progress_sink, level="INFO", filter=lambda r: "event" in r["extra"], catch=True)
    console.print(f"[bold]Orchestra[/] cycle on {project.root} (Prefect home {prefect_home})")
    from orchestra.prefect.heartbeat import engine_heartbeat_off

    with prefect_settings(api), engine_heartbeat_off():
        state = flow(
            project=str(project.root),
            config_files=[str(Path(c).resolve()) for c in args.config],
            goal=args.goal,
            max_tasks=args.max_tasks,
            plan_only=args.plan_only,
            return_state=True,
        )
    link = api.link(state.state_details.flow_run_id)
    message = state.message or state.name or "unknown state"
    if state.name == "Skipped":
        console.print(f"[yellow]cycle not run:[/] {escape(message)}")
        return 1
    try:
        data = state.result(raise_on_failure=False)
    except Exception as exc:
        data = exc
    if isinstance(data, RunFailed):  # the cycle ran and tasks failed: its summary is the report
        data = data.summary
    if isinstance(data, BaseException):
        console.print(f"[red]cycle failed:[/] {escape(str(data))}")
        console.print(f"Prefect UI: {link}")
        return 1
    return _exit_code(data if isinstance(data, dict) else {}, state.is_completed(), message, link)


def _exit_code(data: dict[str, Any], ok: bool, message: str, link: str) -> int:
    """Report the cycle; 2 when a model API refused (or never got) a credential, since the fix
    is the user's, 1 for other failures, 0 when it succeeded."""
    _report(data, ok, message, link)
    refused = _credential_failure(data)
    if refused:
        console.print(
            f"[red]stopped: the model API needs a working credential:[/] {escape(refused)}"
        )
        return 2
    return 0 if ok else 1


def _credential_failure(data: dict[str, Any]) -> str:
    """The reason of a task that failed on a refused or missing model API credential ('' if
    none did): the cycle stopped on it, and no retry helps until the user fixes the variable."""
    from orchestra.agents.credentials import CREDENTIAL_FAILURE_PHRASES

    for task in data.get("tasks", []):
        reason = str(task.get("reason", ""))
        if task.get("kind") == "infrastructure" and any(
            phrase in reason for phrase in CREDENTIAL_FAILURE_PHRASES
        ):
            return reason
    return ""

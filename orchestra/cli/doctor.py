"""`orchestra doctor`: check what a cycle needs and say how to fix each problem."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from orchestra.errors import OrchestraError

Check = tuple[str, str, str]  # (what, "ok" | "note" | "problem", detail or fix)


def _project_checks(project: Path) -> tuple[list[Check], object | None]:
    from orchestra.project import open_project

    try:
        proj = open_project(project)
    except OrchestraError as exc:
        return [("project and config", "problem", str(exc))], None
    checks: list[Check] = [("project and config", "ok", f"{proj.root} ({', '.join(proj.sources)})")]
    from orchestra.engine.preflight import check_worker
    from orchestra.prefect.runs import runtime_pool

    runtimes = runtime_pool(proj)
    # One row per distinct problem: five workers on one missing image are one fix, said once.
    problems: dict[str, list[str]] = {}
    for worker_id in proj.workflow_workers():
        profile = proj.worker(worker_id)
        view = runtimes.get(profile, "doctor").view
        label = f"worker {worker_id} ({profile.agent}, {view.where()})"
        try:
            check_worker(proj, runtimes, worker_id, "doctor")
        except OrchestraError as exc:
            problems.setdefault(str(exc), []).append(worker_id)
        else:
            caveat = view.caveat()
            checks.append((label, "ok", f"ready; {caveat}" if caveat else "ready"))
    for problem, workers in problems.items():
        checks.append(
            (f"worker{'s' if len(workers) > 1 else ''} {', '.join(workers)}", "problem", problem)
        )
    from orchestra.cli.cliversions import version_rows

    ready = [w for w in proj.workflow_workers() if not any(w in ws for ws in problems.values())]
    with runtimes:  # the version steps' egress proxies go with them
        checks += version_rows((proj.worker(w) for w in ready), runtimes)
    return checks, proj


def _prefect_check(project: Path, proj: object | None) -> Check:
    from orchestra.config.server import ServerConfig
    from orchestra.prefect.connect import UNREACHABLE_FIX
    from orchestra.prefect.server import check_api, running_server

    api = os.environ.get("PREFECT_API_URL")
    if api:
        try:
            check_api(api, fix=UNREACHABLE_FIX)
        except OrchestraError as exc:
            return ("prefect", "problem", str(exc))
        return ("prefect", "ok", f"API {api} (PREFECT_API_URL) answers")
    config = getattr(getattr(proj, "config", None), "server", None) or ServerConfig()
    own = running_server(project, tries=1)
    if own is not None:
        if not config.own:
            return ("prefect", "note", _move_hint(project, own.url, own.pid, own.prefect_home))
        return ("prefect", "ok", f"the project's own server {own.url} (pid {own.pid}) answers")
    return ("prefect", "ok", _managed_detail(config.own))


def _managed_detail(own: bool) -> str:
    from orchestra.prefect.userserver import running_user_server, user_home

    if own:
        return (
            "the project's own server (server.scope: project) is not running; the next cycle"
            " starts it in the background (or `orchestra server start --project`)"
        )
    shared = running_user_server(tries=1)
    if shared is not None:
        return (
            f"the user-level server {shared.url} (pid {shared.pid}, shared by your projects)"
            " answers"
        )
    return (
        f"the user-level server (home {user_home()}) is not running; the next cycle starts it"
        " in the background (or `orchestra server start`)"
    )


def _move_hint(project: Path, url: str, pid: int, home: str) -> str:
    """The migration note for a per-project server an earlier version started."""
    return (
        f"the project's own server {url} (pid {pid}), started by an earlier Orchestra, answers:"
        " its cycles use it while it runs. To move to the user-level server shared by all"
        f" your projects: `orchestra server stop --project {project}`; the next cycle uses"
        f" the user-level one (the old runs stay in {home}: `PREFECT_HOME={home} prefect"
        " server start` shows them). To keep a server of its own: `server: {scope: project}`"
        " in orchestra.yaml"
    )


def _memory_check(proj: object) -> Check:
    from orchestra.memory.check import smoke_test

    return smoke_test(proj)


def run_checks(project: Path, what: str, console: Console) -> int:
    """Print a table of checks; return the number of problems."""
    from loguru import logger

    logger.remove()  # the table says what the checks found; no library log lines (DEBUG) here
    checks: list[Check] = []
    proj: object | None = None
    if what not in {"all", "memory"}:
        checks.append(("doctor", "problem", f"unknown check {what!r}; use `all` or `memory`"))
    else:
        project_checks, proj = _project_checks(project)
        if what == "all":
            checks += project_checks
            checks.append(_prefect_check(project, proj))
        if proj is not None:
            checks.append(_memory_check(proj))
        elif what == "memory":
            checks += project_checks
    table = Table(title="orchestra doctor")
    for col in ("check", "status", "detail / fix"):
        table.add_column(col)
    for name, status, detail in checks:
        colour = {"ok": "green", "note": "yellow"}.get(status, "red")
        table.add_row(name, f"[{colour}]{status}[/]", detail)
    console.print(table)
    return sum(1 for _, status, _ in checks if status == "problem")

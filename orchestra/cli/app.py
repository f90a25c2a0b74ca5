"""The ``orchestra`` command: init, run, queue, schema, doctor, stop, resume, server, usage,
worker-image, approve, reject, send-back.

Every ``--project`` may name any folder inside the repository: the command works on the top of
the repository (``orchestra stop`` in ``src/`` sets the kill switch the cycles read).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orchestra.cli.server import server_app
from orchestra.cli.usage import usage
from orchestra.config.schema import schema_text
from orchestra.errors import OrchestraError
from orchestra.workspace.git import find_root

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Run AI coding agents on a git repository."
)


console = Console(highlight=False, soft_wrap=True)


app.add_typer(server_app, name="server")
app.command("usage")(usage)


ProjectOpt = Annotated[Path, typer.Option("--project", "-p", help="git repository (default: .)")]


EXCLUDES = (".orchestra/", "orchestra.local.yaml")


def template_text() -> str:
    """The conservative orchestra.yaml that `orchestra init` writes."""
    return (files("orchestra") / "templates" / "orchestra.yaml").read_text(encoding="utf-8")


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/] {exc}")
    return typer.Exit(2)


@app.command()
def init(
    project: ProjectOpt = Path(),
    force: bool = typer.Option(False, help="replace an orchestra.yaml"),
) -> None:
    """Write a conservative orchestra.yaml and keep .orchestra/ out of git (via .git/info/exclude)."""
    from orchestra.workspace.git import check_project, ensure_excluded

    try:
        root = check_project(find_root(project))
    except OrchestraError as exc:
        raise _fail(exc) from exc
    target = root / "orchestra.yaml"
    if target.exists() and not force:
        console.print(f"{target} exists; left as it is (use --force to replace it)")
    else:
        target.write_text(template_text(), encoding="utf-8")
        console.print(f"wrote {target} (nothing runs on its own: every trigger is off)")
    missing, exclude = ensure_excluded(root, EXCLUDES)
    if missing:
        console.print(f"added {', '.join(missing)} to {exclude}")
    where = shlex.quote(str(root))
    console.print(
        f"commit orchestra.yaml when you are happy with it: git -C {where} add orchestra.yaml"
        f" && git -C {where} commit -m 'Add orchestra.yaml'; .orchestra/ and"
        " orchestra.local.yaml (personal) stay out of git. None of these three is human"
        " activity to the idle gate, committed or not."
    )


@app.command()
def schema() -> None:
    """Print the JSON Schema of orchestra.yaml."""
    sys.stdout.write(schema_text())


@app.command()
def queue(project: ProjectOpt = Path()) -> None:
    """List the queue, running, done, failed and rejected tasks."""
    from orchestra.project import open_project

    try:
        proj = open_project(find_root(project))
        listing = proj.queue.listing()
    except OrchestraError as exc:
        raise _fail(exc) from exc
    table = Table(title=f"Tasks of {proj.root}")
    table.add_column("state")
    table.add_column("count", justify="right")
    table.add_column("files")
    for state in ("queue", "running", "done", "failed", "rejected"):
        names = [p.name for p in listing.get(state, [])]
        shown = ", ".join(names[:8]) + (f", … (+{len(names) - 8})" if len(names) > 8 else "")
        table.add_row(state, str(len(names)), shown)
    console.print(table)
    tried = _tried(listing, proj.runs_dir, proj.queue.max_attempts)
    if tried.rows:
        console.print(tried)


def _tried(listing: dict[str, list[Path]], runs_dir: Path, max_attempts: int) -> Table:
    """Tasks not done that were tried before: attempts, and why the last attempt failed."""
    from rich.markup import escape

    from orchestra.engine.settle import last_failures
    from orchestra.queue.taskfile import split_front_matter

    failures = last_failures(runs_dir)
    table = Table(title="Tried before")
    for col in ("task", "state", "attempts", "last failure"):
        table.add_column(col)
    for state in ("queue", "running", "failed"):
        for path in listing.get(state, []):
            try:
                attempts = split_front_matter(path.read_text(encoding="utf-8"))[0].get("attempts")
            except (OSError, UnicodeDecodeError, OrchestraError):
                attempts = None
            ended, reason = failures.get(path.name.removesuffix(".md"), ("", ""))
            if not attempts and not reason:
                continue
            when = f"{ended}: " if ended else ""
            row = (path.name, state, f"{attempts or 0} of {max_attempts}", when + reason)
            table.add_row(*(escape(cell) for cell in row))  # agent text: no rich markup
    return table


@app.command()
def run(
    project: ProjectOpt = Path(),
    config: Annotated[
        list[Path] | None, typer.Option("--config", help="extra config overlay")
    ] = None,
    goal: Annotated[str | None, typer.Option(help="what the planner works towards")] = None,
    max_tasks: Annotated[int | None, typer.Option(help="tasks to run this cycle")] = None,
    plan_only: bool = False,
    dry_run: bool = False,
) -> None:
    """Run one cycle (same as `python -m flows.run`)."""
    from orchestra.cli.run_cycle import main
    from orchestra.prefect.launch import load_flow

    argv = ["--project", str(find_root(project))]
    for item in config or []:
        argv += ["--config", str(item)]
    argv += ["--goal", goal] if goal else []
    argv += ["--max-tasks", str(max_tasks)] if max_tasks is not None else []
    argv += ["--plan-only"] if plan_only else []
    argv += ["--dry-run"] if dry_run else []
    raise typer.Exit(main(argv, load_flow))


@app.command()
def doctor(
    what: Annotated[str, typer.Argument(help="all | memory")] = "all",
    project: ProjectOpt = Path(),
) -> None:
    """Check config, git, workers (Docker, images, agent CLIs) and memory; say how to fix each."""
    from orchestra.cli.doctor import run_checks

    problems = run_checks(find_root(project), what, console)
    raise typer.Exit(1 if problems else 0)


def _schedules_api(root: Path) -> str | None:
    """The API whose schedules `stop` pauses: PREFECT_API_URL, else the project's own server,
    else the user-level one."""
    from orchestra.prefect.server import running_server
    from orchestra.prefect.userserver import running_user_server

    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    server = running_server(root, tries=1) or running_user_server(tries=1)
    return server.api_url if server else None


@app.command()
def stop(project: ProjectOpt = Path()) -> None:
    """Kill switch: create .orchestra/STOP; the running step stops and no new cycle starts.

    Also pauses the active schedules of Orchestra's deployments (on PREFECT_API_URL, or on
    Orchestra's server) and records which, so `orchestra resume` re-activates exactly those.
    """
    from orchestra.policy.killswitch import stop_file

    root = find_root(project)
    path = stop_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("stopped by `orchestra stop`\n", encoding="utf-8")
    console.print(f"created {path}: running steps stop, cycles skip until `orchestra resume`")
    api_url = _schedules_api(root)
    if api_url is None:
        console.print(
            "no Prefect API (PREFECT_API_URL is not set and no Orchestra server is"
            " running): no schedules paused (they skip while STOP exists)"
        )
        return
    from loguru import logger

    from orchestra.prefect.schedules import pause_all, record_paused

    logger.remove()  # the console line below says what was paused
    try:
        paused = pause_all(api_url=api_url)
    except Exception as exc:  # the kill switch file already stops everything
        console.print(f"[yellow]could not pause schedules on {api_url}:[/] {exc}")
        return
    record_paused(root, api_url, paused)
    names = ", ".join(p.deployment for p in paused)
    console.print(f"paused schedules: {names or 'none were active'} (on {api_url})")


def _revive(root: Path, api_url: str | None) -> None:
    """The user-level server those schedules are on stopped itself while they were paused (no
    active schedule, no run: idle): start it again, on the port it had."""
    from orchestra.config.loader import load_config
    from orchestra.prefect.userserver import revive

    if not api_url:
        return
    with contextlib.suppress(OrchestraError):  # the resume below says what did not answer
        idle = load_config(root).config.server.idle_stop_minutes
        if revive(api_url, idle_stop_minutes=idle):
            console.print(f"started the user-level Prefect server again on {api_url}")


@app.command()
def resume(project: ProjectOpt = Path()) -> None:
    """Undo `orchestra stop`: remove the kill switch, re-activate the schedules it paused."""
    from orchestra.policy.killswitch import stop_file
    from orchestra.prefect.schedules import describe, paused_path, read_paused, resume_paused

    root = find_root(project)
    path = stop_file(root)
    if path.exists():
        path.unlink()
        console.print(f"removed {path}: cycles may run again")
    else:
        console.print("no kill switch was set")
    record = paused_path(root)
    if not record.exists():
        console.print("no schedules were paused by `orchestra stop`: none resumed")
        return
    api_url, paused = read_paused(root)
    if paused:
        _revive(root, api_url)
        from loguru import logger

        logger.remove()
        try:
            resumed = resume_paused(paused, api_url)
        except Exception as exc:
            console.print(
                f"[red]error:[/] could not resume the schedules `orchestra stop` paused on"
                f" {api_url}: {exc}; they stay paused (listed in {record}): run `orchestra"
                " resume` again once that server answers"
            )
            raise typer.Exit(1) from exc
        console.print(f"resumed the schedules `orchestra stop` paused: {describe(resumed)}")
    else:
        console.print("`orchestra stop` paused no schedules: none resumed")
    record.unlink(missing_ok=True)


worker_image_app = typer.Typer(no_args_is_help=True, help="The worker image agent steps run in.")
app.add_typer(worker_image_app, name="worker-image")


@worker_image_app.command("build")
def worker_image_build(
    tag: str = typer.Option("orchestra-worker:latest", help="image name"),
    base: str = typer.Option("orchestra-base:bookworm", help="Debian/Ubuntu base with python3"),
    with_: str = typer.Option(
        "", "--with", help="CLIs to add, comma-separated: opencode (from npm)"
    ),
    without: str = typer.Option(
        "", "--without", help="CLIs to leave out, comma-separated: aider,claude,codex"
    ),
    no_aider: bool = typer.Option(False, "--no-aider", help="leave aider out"),
    force: bool = typer.Option(False, help="rebuild an existing image"),
) -> None:
    """Build the worker image from the Dockerfile shipped in the package (aider, Claude Code and
    Codex by default, all from PyPI)."""
    from docker.client import DockerClient
    from docker.errors import DockerException

    from orchestra.cli import worker_image as wi
    from orchestra.errors import RuntimeUnavailableError

    try:
        args = wi.build_args(base, with_.split(","), aider=not no_aider, without=without.split(","))
        try:
            client = DockerClient.from_env()
        except DockerException as exc:
            msg = f"no Docker engine answers ({exc}): start Docker, or set DOCKER_HOST"
            raise RuntimeUnavailableError(msg) from exc
        try:
            built = wi.build_worker_image(
                client, tag=tag, args=args, force=force, echo=console.print
            )
        finally:
            client.close()
    except OrchestraError as exc:
        raise _fail(exc) from exc
    if built:
        console.print(f"built {tag}")
    else:
        console.print(f"{tag} already exists (--force rebuilds it)")


def _decide(project: Path, task_id: str, decision: str, comment: str) -> None:
    from orchestra.cli.approve import decide

    try:
        lines = decide(find_root(project), task_id, decision, comment)  # type: ignore[arg-type]
    except OrchestraError as exc:
        raise _fail(exc) from exc
    for line in lines:
        console.print(line)


CommentOpt = Annotated[str, typer.Option("--comment", "-m", help="why (reaches the report)")]


@app.command()
def approve(task: str, comment: CommentOpt = "", project: ProjectOpt = Path()) -> None:
    """Approve a task that waits for a person: it lands; with the base checked out and your
    work tree clean, your checkout is fast-forwarded to what landed."""
    _decide(project, task, "approve", comment)


@app.command()
def reject(task: str, comment: CommentOpt = "", project: ProjectOpt = Path()) -> None:
    """Reject a task that waits for a person: it fails with your comment as the reason."""
    _decide(project, task, "reject", comment)


@app.command("send-back")
def send_back(
    task: str,
    comment: Annotated[str, typer.Option("--comment", "-m", help="what the fixer should change")],
    project: ProjectOpt = Path(),
) -> None:
    """Send a waiting task back to its fixer with a comment, for one more step; then it asks again."""
    _decide(project, task, "send back", comment)


@worker_image_app.command("dockerfile")
def worker_image_dockerfile() -> None:
    """Print the worker Dockerfile shipped in the package."""
    from orchestra.cli.worker_image import dockerfile_text

    sys.stdout.write(dockerfile_text())


if __name__ == "__main__":
    app()

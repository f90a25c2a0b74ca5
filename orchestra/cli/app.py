"""The ``orchestra`` command: init, run, queue, schema, doctor, stop, resume, worker-image."""

from __future__ import annotations

import os
import sys
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orchestra.config.schema import schema_text
from orchestra.errors import OrchestraError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Run AI coding agents on a git repository."
)


console = Console(highlight=False, soft_wrap=True)


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
        root = check_project(project.resolve())
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


@app.command()
def schema() -> None:
    """Print the JSON Schema of orchestra.yaml."""
    sys.stdout.write(schema_text())


@app.command()
def queue(project: ProjectOpt = Path()) -> None:
    """List the queue, running, done, failed and rejected tasks."""
    from orchestra.project import open_project

    try:
        proj = open_project(project)
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

    argv = ["--project", str(project)]
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

    problems = run_checks(project.resolve(), what, console)
    raise typer.Exit(1 if problems else 0)


@app.command()
def stop(project: ProjectOpt = Path()) -> None:
    """Kill switch: create .orchestra/STOP; the running step stops and no new cycle starts."""
    from orchestra.policy.killswitch import stop_file

    path = stop_file(project.resolve())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("stopped by `orchestra stop`\n", encoding="utf-8")
    console.print(f"created {path}: running steps stop, cycles skip until `orchestra resume`")
    if os.environ.get("PREFECT_API_URL"):
        from loguru import logger

        from orchestra.prefect.schedules import pause_all

        logger.remove()  # the console line below says what was paused

        try:
            paused = pause_all()
        except Exception as exc:  # the kill switch file already stops everything
            console.print(
                f"[yellow]could not pause schedules on {os.environ['PREFECT_API_URL']}:[/] {exc}"
            )
        else:
            console.print(f"paused schedules: {', '.join(paused) or 'none were active'}")
    else:
        console.print(
            "PREFECT_API_URL is not set: no schedules paused (they skip while STOP exists)"
        )


@app.command()
def resume(project: ProjectOpt = Path()) -> None:
    """Undo `orchestra stop`."""
    from orchestra.policy.killswitch import stop_file

    path = stop_file(project.resolve())
    if path.exists():
        path.unlink()
        console.print(f"removed {path}: cycles may run again")
    else:
        console.print("no kill switch was set")


worker_image_app = typer.Typer(no_args_is_help=True, help="The worker image agent steps run in.")
app.add_typer(worker_image_app, name="worker-image")


@worker_image_app.command("build")
def worker_image_build(
    tag: str = typer.Option("orchestra-worker:latest", help="image name"),
    base: str = typer.Option("orchestra-base:bookworm", help="Debian/Ubuntu base with python3"),
    with_: str = typer.Option(
        "", "--with", help="npm CLIs to add, comma-separated: claude,codex,opencode"
    ),
    no_aider: bool = typer.Option(False, "--no-aider", help="leave aider out"),
    force: bool = typer.Option(False, help="rebuild an existing image"),
) -> None:
    """Build the worker image from the Dockerfile shipped in the package (aider by default)."""
    from docker.client import DockerClient
    from docker.errors import DockerException

    from orchestra.cli import worker_image as wi
    from orchestra.errors import RuntimeUnavailableError

    try:
        args = wi.build_args(base, with_.split(","), aider=not no_aider)
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


@worker_image_app.command("dockerfile")
def worker_image_dockerfile() -> None:
    """Print the worker Dockerfile shipped in the package."""
    from orchestra.cli.worker_image import dockerfile_text

    sys.stdout.write(dockerfile_text())


if __name__ == "__main__":
    app()

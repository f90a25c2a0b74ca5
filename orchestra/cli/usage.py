"""``orchestra usage``: the usage ledger rolled up by day, task, cycle, model, worker or CLI, as a
rich table or as JSON for scripts."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestra.engine.usage import BY_CHOICES, By, cost_text, rollup
from orchestra.errors import OrchestraError
from orchestra.workspace.git import find_root

console = Console(highlight=False, soft_wrap=True)


def usage(
    project: Annotated[
        Path, typer.Option("--project", "-p", help="git repository (default: .)")
    ] = Path(),
    since: Annotated[
        str | None, typer.Option(help="first day counted, YYYY-MM-DD (limits.time_zone)")
    ] = None,
    by: Annotated[str, typer.Option(help="day, task, cycle, model, worker or cli")] = "day",
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts")] = False,
) -> None:
    """What the agents spent: tokens and cost from the usage ledger (unpriced models named)."""
    from orchestra.engine.ledger import Ledger
    from orchestra.project import open_project

    if by not in BY_CHOICES:
        console.print(f"[red]error:[/] --by {by!r} is not one of {', '.join(BY_CHOICES)}")
        raise typer.Exit(2)
    if since is not None:
        try:
            date.fromisoformat(since)
        except ValueError:
            console.print(f"[red]error:[/] --since {since!r} is not a date like 2026-12-07")
            raise typer.Exit(2) from None
    try:
        proj = open_project(find_root(project))
    except OrchestraError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    key: By = by
    items = rollup(Ledger(proj.root).rows(since_day=since), key)
    if as_json:
        sys.stdout.write(json.dumps({"by": by, "since": since, "rows": items}, indent=2) + "\n")
        return
    table = Table(title=f"Usage of {proj.root} by {by}" + (f" since {since}" if since else ""))
    for col in (by, "steps", "tokens in", "tokens out", "agent min", "cost"):
        table.add_column(col, justify="left" if col == by else "right")
    for item in items:
        table.add_row(
            escape(str(item[by])),
            str(item["steps"]),
            f"{item['input_tokens']:,}",
            f"{item['output_tokens']:,}",
            f"{item['agent_minutes']:.1f}",
            escape(cost_text(item)),
        )
    console.print(table if items else "no usage recorded yet")

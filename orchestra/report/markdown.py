"""The task report as markdown: status, reason, a step table and the output tails (pure
rendering; :mod:`orchestra.prefect.artifacts` publishes it)."""

from __future__ import annotations

from pathlib import Path

from orchestra.engine.step import StepRecord
from orchestra.engine.task import TaskOutcome
from orchestra.paths import private_dirs
from orchestra.secrets import redact

TAIL_CHARS = 600


def _cell(text: str) -> str:
    return redact(text).replace("|", "\\|").replace("\n", "<br>")


def _tokens(record: StepRecord) -> str:
    if record.input_tokens is None and record.output_tokens is None:
        return "-"
    return f"{record.input_tokens or 0}/{record.output_tokens or 0}"


def task_markdown(outcome: TaskOutcome) -> str:
    """The task's report: status, reason, a step table and the output tails."""
    lines = [
        f"# {outcome.task_id}: {outcome.title}",
        "",
        f"**Status:** {outcome.status}  ",
        f"**Reason:** {_cell(outcome.reason)}  ",
    ]
    if outcome.kind:
        lines.append(f"**Failure kind:** {outcome.kind}  ")
    if outcome.integration:
        lines.append(f"**Integration:** {_cell(outcome.integration)}  ")
    if outcome.cost_usd:
        lines.append(f"**Cost:** ${outcome.cost_usd:.4f}  ")
    lines += [
        "",
        "| # | id | title | worker | status | duration | verdict | tokens in/out | cost | output tail |",
        "|---|----|-------|--------|--------|----------|---------|---------------|------|-------------|",
    ]
    for n, rec in enumerate(outcome.steps, start=1):
        cost = f"${rec.cost_usd:.4f}" if rec.cost_usd is not None else "-"
        tail = rec.output_tail[-TAIL_CHARS:].strip().splitlines()[-3:]
        lines.append(
            f"| {n} | {rec.step} | {_cell(rec.title)} | {rec.worker} | {rec.status} | "
            f"{rec.duration:.1f}s | {rec.verdict or '-'} | {_tokens(rec)} | {cost} | {_cell(' / '.join(tail))} |"
        )
    for n, rec in enumerate(outcome.steps, start=1):
        if rec.message or rec.status != "ok":
            lines += ["", f"## Step {n}: {rec.step} ({rec.status})", "", _cell(rec.message)]
        if rec.status != "ok" and rec.output_tail:
            lines += ["", "```text", redact(rec.output_tail[-3000:]), "```"]
    return "\n".join(lines) + "\n"


def write_task_report(outcome: TaskOutcome) -> Path | None:
    """Write report.md into the task's run folder; return its path."""
    if outcome.run_dir is None:
        return None
    private_dirs(outcome.run_dir)
    path = outcome.run_dir / "report.md"
    path.write_text(task_markdown(outcome), encoding="utf-8")
    return path

"""The task report as markdown: status, reason, a step table and the output tails (pure
rendering; :mod:`orchestra.prefect.artifacts` publishes it).

Most of the text here is the agent's (its messages, handoff, output; the task title may be a
planner's): it is untrusted and reaches the Prefect UI, which renders markdown with HTML. So
every piece of it is either :func:`inline` (HTML-escaped, links and images disarmed, one line)
or :func:`fenced` (in a code block it cannot close). No markup of ours is built from it.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from orchestra.engine.step import StepRecord
from orchestra.engine.task import TaskOutcome
from orchestra.paths import private_dirs
from orchestra.secrets import redact

TAIL_CHARS = 600
#: Where a newline of agent text was, inside one line of markdown.
NEWLINE_MARK = " ⏎ "

#: ``[`` opens links and images (``![..](url)`` would load a URL when the report is viewed),
#: ``|`` ends a table cell, ``\`` would undo the escapes.
_INLINE_SPECIAL = re.compile(r"([\\\[\]|])")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n|\u2028|\u2029|\x0b|\x0c|\x85")
_BACKTICKS = re.compile(r"`+")


def inline(text: str) -> str:
    """Untrusted ``text`` as one line of inert markdown: secrets redacted, ``& < >`` escaped
    for HTML (no tag, comment or entity of the agent's survives), link/image brackets and
    table pipes escaped, line breaks shown as :data:`NEWLINE_MARK`."""
    text = html.escape(redact(text), quote=False)
    text = _INLINE_SPECIAL.sub(r"\\\1", text)
    return _LINE_BREAKS.sub(NEWLINE_MARK, text.strip())


def fenced(text: str, info: str = "text") -> str:
    """Untrusted ``text`` in a fenced code block it cannot close: the fence is one backtick
    longer than the longest backtick run inside (CommonMark closes a fence only with one at
    least as long). Inside a code block markdown renders nothing: no HTML, links or headings."""
    text = redact(text).replace("\r", "")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def _tokens(record: StepRecord) -> str:
    if record.input_tokens is None and record.output_tokens is None:
        return "-"
    return f"{record.input_tokens or 0}/{record.output_tokens or 0}"


def _step_row(n: int, rec: StepRecord) -> str:
    cost = f"${rec.cost_usd:.4f}" if rec.cost_usd is not None else "-"
    tail = rec.output_tail[-TAIL_CHARS:].strip().splitlines()[-3:]
    cells = [
        str(n),
        inline(rec.step),
        inline(rec.title),
        inline(rec.worker),
        rec.status,
        f"{rec.duration:.1f}s",
        rec.verdict or "-",
        _tokens(rec),
        cost,
        inline(" / ".join(tail)),
    ]
    return "| " + " | ".join(cells) + " |"


def task_markdown(outcome: TaskOutcome) -> str:
    """The task's report: status, reason, a step table, each step's summary and output tail."""
    reason_head, _, reason_rest = outcome.reason.strip().partition("\n")
    lines = [
        f"# {inline(outcome.task_id)}: {inline(outcome.title)}",
        "",
        f"**Status:** {outcome.status}  ",
        f"**Reason:** {inline(reason_head)}  ",
    ]
    if outcome.kind:
        lines.append(f"**Failure kind:** {outcome.kind}  ")
    if outcome.integration:
        lines.append(f"**Integration:** {inline(outcome.integration)}  ")
    if outcome.cost_usd:
        lines.append(f"**Cost:** ${outcome.cost_usd:.4f}  ")
    if reason_rest.strip():
        lines += ["", fenced(outcome.reason.strip())]
    lines += [
        "",
        "| # | id | title | worker | status | duration | verdict | tokens in/out | cost | output tail |",
        "|---|----|-------|--------|--------|----------|---------|---------------|------|-------------|",
    ]
    lines += [_step_row(n, rec) for n, rec in enumerate(outcome.steps, start=1)]
    for n, rec in enumerate(outcome.steps, start=1):
        summary = rec.handoff.summary.strip()
        if not (rec.message or summary or rec.status != "ok"):
            continue
        lines += ["", f"## Step {n}: {inline(rec.step)} ({rec.status})"]
        if rec.message:
            lines += ["", f"**Message:** {inline(rec.message)}"]
        if summary:
            lines += ["", "**Summary:**", "", fenced(summary)]
        if rec.status != "ok" and rec.output_tail:
            lines += ["", fenced(rec.output_tail[-3000:])]
    return "\n".join(lines) + "\n"


def write_task_report(outcome: TaskOutcome) -> Path | None:
    """Write report.md into the task's run folder; return its path."""
    if outcome.run_dir is None:
        return None
    private_dirs(outcome.run_dir)
    path = outcome.run_dir / "report.md"
    path.write_text(task_markdown(outcome), encoding="utf-8")
    return path

"""The usage ledger rolled up: per task, cycle, day, worker, model or CLI; what `orchestra usage`,
the usage artifacts and the cycle's summary line show."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from orchestra.engine.ledger import UsageRow
from orchestra.engine.spending import spend_of
from orchestra.policy.governor import Caps, Spend, warning

By = Literal["day", "task", "cycle", "worker", "model", "cli"]

BY_CHOICES: tuple[By, ...] = ("day", "task", "cycle", "worker", "model", "cli")


def rollup(rows: Sequence[UsageRow], by: By) -> list[dict[str, Any]]:
    """One line per value of ``by`` (in first-seen order; days sorted), with the steps, tokens,
    priced cost and the steps no price was known for."""
    groups: dict[str, list[UsageRow]] = {}
    for row in rows:
        groups.setdefault(str(getattr(row, by)), []).append(row)
    keys = sorted(groups) if by == "day" else list(groups)
    return [line(by, key, groups[key]) for key in keys]


def line(by: str, key: str, rows: Sequence[UsageRow]) -> dict[str, Any]:
    """The roll-up line of ``rows``."""
    spend = spend_of(rows)
    unpriced = sorted({r.model for r in rows if r.priced == "unpriced"})
    return {
        by: key,
        "steps": len(rows),
        "input_tokens": sum(r.input_tokens for r in rows),
        "output_tokens": sum(r.output_tokens for r in rows),
        "cost_usd": round(spend.cost, 6),
        "unpriced_steps": spend.unpriced,
        "unpriced_models": unpriced,
        "agent_minutes": round(sum(r.duration for r in rows) / 60, 2),
    }


def cost_text(item: dict[str, Any]) -> str:
    """``$1.23`` or ``$1.23 + 2 unpriced`` (never a silent $0 for an unpriced model)."""
    text = f"${float(item['cost_usd']):.4f}"
    if item["unpriced_steps"]:
        text += f" + {item['unpriced_steps']} unpriced ({', '.join(item['unpriced_models'])})"
    return text


def spent_line(cycle: Sequence[UsageRow], today: Sequence[UsageRow], caps: Caps) -> str:
    """The cycle summary's part: ``spent $0.12, 4,000 tokens; today $3.40 of $5 ...``."""
    here, day = spend_of(cycle), spend_of(today)
    text = f"spent {here.text()}; today {day.text()}"
    if caps.day_cost is not None:
        text += f" of ${caps.day_cost:g}"
    if caps.day_tokens is not None:
        text += f" (token cap {caps.day_tokens:,})"
    if warned := warning(caps, day):
        text += f"; warning: {warned}"
    return text


def markdown(title: str, rows: Sequence[UsageRow], caps: Caps, today: Spend | None = None) -> str:
    """A usage report in Markdown: totals, a warning at the warn level, then by model, worker,
    CLI and task."""
    total = spend_of(rows)
    out = [f"# {title}", "", f"**Total:** {total.text()} in {len(rows)} agent steps", ""]
    if today is not None and (warned := warning(caps, today)):
        out += [f"> **Warning:** {warned} (limits.warn_at {caps.warn_at:g})", ""]
    if total.unpriced:
        out += [
            f"> {total.unpriced} step(s) used models with no price in `pricing:`; their cost "
            "is unknown and not in the total.",
            "",
        ]
    sections: tuple[By, ...] = ("model", "worker", "cli", "task")
    for by in sections:
        items = rollup(rows, by)
        if not items:
            continue
        out += [f"## By {by}", "", f"| {by} | steps | tokens in/out | cost |", "|---|---|---|---|"]
        for item in items:
            tokens = f"{item['input_tokens']:,}/{item['output_tokens']:,}"
            out.append(f"| {item[by]} | {item['steps']} | {tokens} | {cost_text(item)} |")
        out.append("")
    return "\n".join(out)

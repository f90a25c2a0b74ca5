"""The usage ledger: one line per agent step (tokens, cost, who, when), in
``.orchestra/usage/ledger-<YYYY-MM>.jsonl`` (one file per month of the rows' day: a cap reads
this month's file only, however long the project has run).

The cycle's process is its one writer: local tasks run in its threads and record each step as
it ends; a pool worker records nothing and sends its steps' usage back with its outcome, which
the cycle appends when it settles the task (:func:`rows_from_outcome`). Appends take an
``flock`` anyway, so a task run on its own (a deployment run of one task) can add to it too.

Cost is what the CLI reported; a CLI that reports only tokens is priced from the config's
``pricing:`` table by model; a step of a model with no price is kept as *unpriced* (its cost
None), so every total can say "plus N unpriced steps" instead of counting it as $0.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from orchestra.clock import iso_utc, utc_now
from orchestra.config.models import WorkerProfile
from orchestra.config.spending import ModelPrice
from orchestra.engine.step import StepRecord

LEDGER_DIR = ".orchestra/usage"

Priced = Literal["reported", "table", "unpriced", "none"]
"""Where a row's cost came from: the CLI, the pricing table, nowhere (tokens but no price), or
there was nothing to price (no tokens reported)."""


@dataclass(frozen=True)
class UsageRow:
    """One agent step's usage."""

    at: str
    """When the step ended (UTC ISO-8601)."""
    day: str
    """Its day in limits.time_zone (YYYY-MM-DD)."""
    cycle: str
    task: str
    step: str
    worker: str
    cli: str
    model: str
    host: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    priced: Priced
    duration: float
    """Seconds the step ran (agent-minutes of subscription windows)."""

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def to_json(self) -> dict[str, Any]:
        """As a ledger line."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UsageRow | None:
        """From a ledger line (None for a line that is not a row)."""
        names = {f.name for f in fields(cls)}
        try:
            row = cls(**{k: v for k, v in data.items() if k in names})
        except TypeError:
            return None
        return row


def price(
    pricing: Mapping[str, ModelPrice], model: str, sent: int, received: int
) -> tuple[float | None, Priced]:
    """The cost of ``sent``/``received`` tokens of ``model`` from the pricing table."""
    if not sent and not received:
        return 0.0, "none"
    found = pricing.get(model)
    if found is None:
        return None, "unpriced"
    cost = (sent * found.input_usd_per_mtok + received * found.output_usd_per_mtok) / 1e6
    return round(cost, 6), "table"


def day_of(moment: datetime, time_zone: str) -> str:
    """``moment``'s day in ``time_zone``."""
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d")


def step_cost(record: StepRecord, pricing: Mapping[str, ModelPrice]) -> tuple[float | None, Priced]:
    """What a step cost: as reported, else priced from the table."""
    if record.cost_usd is not None:
        return float(record.cost_usd), "reported"
    return price(pricing, record.model or "", record.input_tokens or 0, record.output_tokens or 0)


def row_of(
    record: StepRecord,
    *,
    profiles: Mapping[str, WorkerProfile],
    pricing: Mapping[str, ModelPrice],
    cycle: str,
    host: str,
    time_zone: str,
    now: datetime | None = None,
) -> UsageRow:
    """The ledger row of one agent step."""
    moment = now or utc_now()
    cost, priced = step_cost(record, pricing)
    profile = profiles.get(record.worker)
    return UsageRow(
        at=iso_utc(moment),
        day=day_of(moment, time_zone),
        cycle=cycle,
        task=record.task_id,
        step=record.step,
        worker=record.worker,
        cli=profile.agent if profile else "?",
        model=record.model or "(CLI default)",
        host=host,
        input_tokens=record.input_tokens or 0,
        output_tokens=record.output_tokens or 0,
        cost_usd=cost,
        priced=priced,
        duration=float(record.duration),
    )


def is_agent_step(record: StepRecord) -> bool:
    """Agent steps go into the ledger; the verify gate (our own command) does not."""
    return record.step != "verify"


def usage_of(records: Sequence[StepRecord]) -> list[dict[str, Any]]:
    """What a pool worker sends back of its steps, for the cycle's ledger."""
    keep = ("task_id", "step", "worker", "model", "input_tokens", "output_tokens", "cost_usd")
    return [
        {k: getattr(r, k) for k in keep} | {"duration": r.duration}
        for r in records
        if is_agent_step(r)
    ]


def rows_from_outcome(
    sent: Mapping[str, Any],
    *,
    profiles: Mapping[str, WorkerProfile],
    pricing: Mapping[str, ModelPrice],
    cycle: str,
    time_zone: str,
) -> list[UsageRow]:
    """The ledger rows of a pool worker's outcome (its ``usage`` list)."""
    host = str(sent.get("host") or "")
    rows: list[UsageRow] = []
    for item in sent.get("usage") or []:
        if not isinstance(item, Mapping):
            continue
        record = StepRecord(
            task_id=str(item.get("task_id") or sent.get("task") or ""),
            step=str(item.get("step") or ""),
            title="",
            worker=str(item.get("worker") or ""),
            status="ok",
            duration=float(item.get("duration") or 0.0),
            verdict=None,
            output_tail="",
            message="",
            model=item.get("model"),
            input_tokens=_int(item.get("input_tokens")),
            output_tokens=_int(item.get("output_tokens")),
            cost_usd=_float(item.get("cost_usd")),
        )
        rows.append(
            row_of(
                record,
                profiles=profiles,
                pricing=pricing,
                cycle=cycle,
                host=host,
                time_zone=time_zone,
            )
        )
    return rows


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


class Ledger:
    """The project's usage ledger (append-only JSONL, a file per month)."""

    def __init__(self, root: Path) -> None:
        self.folder = root / LEDGER_DIR

    @property
    def path(self) -> Path:
        """The folder of the monthly files (what identifies this ledger)."""
        return self.folder

    def append(self, rows: Iterable[UsageRow]) -> None:
        """Add ``rows``, one locked write per month file."""
        by_month: dict[str, str] = {}
        for r in rows:
            line = json.dumps(r.to_json(), sort_keys=True) + "\n"
            by_month[r.day[:7]] = by_month.get(r.day[:7], "") + line
        for month, text in by_month.items():
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.folder / f"ledger-{month}.jsonl"
            fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, text.encode("utf-8"))
            finally:
                os.close(fd)  # closing releases the lock

    def rows(self, *, since_day: str | None = None) -> list[UsageRow]:
        """Every row (of ``since_day`` and later); unreadable lines are skipped."""
        found: list[UsageRow] = []
        for path in sorted(self.folder.glob("ledger-*.jsonl")):
            month = path.stem.removeprefix("ledger-")
            if since_day is not None and month < since_day[:7]:
                continue
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError:
                continue
            for line in lines:
                try:
                    data = json.loads(line)
                except ValueError:
                    continue  # a line being written, or torn by a crash
                row = UsageRow.from_json(data) if isinstance(data, dict) else None
                if row is not None and (since_day is None or row.day >= since_day):
                    found.append(row)
        return found

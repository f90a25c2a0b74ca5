"""The spending governor at work: before each agent step, whether it may start under the caps
and its profile's window; after it, its usage into the ledger.

A step that starts reserves its estimate (the dearest step recorded today, so far) until it
ends: parallel tasks in this process see each other's running steps, and spending stops within
about one step's cost of a daily cap (measured: bench/bench_governor.py). Steps on other hosts
count once their outcome comes back to the cycle (engine/ledger.py).

A step whose CLI streams its usage (Claude Code) is also checked while it runs
(:meth:`SpendGuard.live_check`, engine/livecap.py): it stops as soon as its next model request
would cross a cap, and its reservation grows to what it streamed, so the steps beside it see it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count

from loguru import logger

from orchestra.agents.streaming import LiveUsage
from orchestra.clock import utc_now
from orchestra.engine.ledger import (
    Ledger,
    UsageRow,
    day_of,
    is_agent_step,
    price,
    row_of,
    step_cost,
)
from orchestra.engine.livecap import UsageCheck
from orchestra.engine.step import StepRecord
from orchestra.policy.governor import (
    Caps,
    Spend,
    Use,
    day_cap_reached,
    stop_mid_step,
    warning,
    window_used_up,
    would_cross,
)
from orchestra.project import Project

_LOCK = threading.Lock()
_RUNNING: dict[str, dict[int, Spend]] = {}
"""Ledger path → the estimates of the steps running in this process."""
_WARNED: dict[str, str] = {}
"""Ledger path → the day a warning was last logged (once per day and process)."""
_TOKENS = count(1)


def spend_of(rows: Sequence[UsageRow]) -> Spend:
    """What ``rows`` add up to."""
    return Spend(
        sum(r.cost_usd or 0.0 for r in rows),
        sum(r.tokens for r in rows),
        sum(1 for r in rows if r.priced == "unpriced"),
    )


def records_spend(records: Sequence[StepRecord], project: Project) -> tuple[Spend, Spend]:
    """What a task's steps cost so far (priced like the ledger), and its dearest step."""
    total, dearest = Spend(), Spend()
    for record in records:
        if not is_agent_step(record):
            continue
        cost, priced = step_cost(record, project.config.pricing)
        tokens = (record.input_tokens or 0) + (record.output_tokens or 0)
        total = total + Spend(cost or 0.0, tokens, 1 if priced == "unpriced" else 0)
        if (cost or 0.0) > dearest.cost:
            dearest = Spend(cost or 0.0, tokens)
    return total, dearest


@dataclass
class SpendGuard:
    """The governor of one task run (or of the cycle's claims)."""

    project: Project
    cycle: str
    write: bool = True
    """Whether this process writes the ledger (a pool worker sends its usage back instead)."""
    day_base: Spend = field(default_factory=Spend)
    """Today's spending this guard cannot read from a ledger: on a pool worker (no ledger), the
    cycle's ledger at the task's claim (:class:`~orchestra.engine.pooljob.PoolJob`)."""
    host: str = ""
    clock: Callable[[], datetime] = utc_now
    _held: dict[int, Spend] = field(default_factory=dict)

    @property
    def ledger(self) -> Ledger:
        """The project's ledger."""
        return Ledger(self.project.root)

    @property
    def caps(self) -> Caps:
        """The configured caps."""
        return Caps.of(self.project.config.limits)

    def today(self) -> str:
        """Today in limits.time_zone."""
        return day_of(self.clock(), self.project.config.limits.time_zone)

    def rows_today(self) -> list[UsageRow]:
        """Today's ledger rows (every host's that came back)."""
        return self.ledger.rows(since_day=self.today()) if self.write else []

    def day_spent(self, rows: Sequence[UsageRow], task_spent: Spend) -> Spend:
        """Today's spending: the ledger's ``rows``; on a pool worker, what the cycle's ledger
        held at the claim plus this task's own steps (they reach the ledger with its outcome)."""
        if self.write:
            return spend_of(rows) + self.day_base
        return self.day_base + task_spent

    def running(self) -> Spend:
        """The estimates (or streamed usage) of the steps running in this process now."""
        with _LOCK:
            held = list(_RUNNING.get(str(self.ledger.path), {}).values())
        total = Spend()
        for spend in held:
            total = total + spend
        return total

    def claim_stop(self) -> str:
        """Why no task may be claimed now: a daily cap reached, counting running steps."""
        caps = self.caps
        if caps.day_cost is None and caps.day_tokens is None:
            return ""
        rows = self.rows_today()
        self._warn(caps, spend_of(rows))
        return day_cap_reached(caps, spend_of(rows) + self.running())

    def estimate(self, rows: Sequence[UsageRow]) -> Spend:
        """A step's likely cost: the dearest recorded today (nothing known yet: 0)."""
        if not rows:
            return Spend()
        return Spend(max(r.cost_usd or 0.0 for r in rows), max(r.tokens for r in rows))

    def before_step(
        self, worker: str, task_spent: Spend, dearest: Spend | None = None
    ) -> tuple[str, int]:
        """Why the step of ``worker`` may not start ('' when it may), and the handle of its
        reservation (give it to :meth:`after_step`). ``dearest``: the task's own dearest step
        (a pool worker sees no ledger; the estimate is never below it)."""
        reason = self.window_stop(worker)
        if reason:
            return reason, 0
        caps = self.caps
        if not caps.any:
            return "", 0
        rows = self.rows_today()
        step = self.estimate(rows)
        if dearest is not None and dearest.cost > step.cost:
            step = Spend(dearest.cost, max(step.tokens, dearest.tokens))
        with _LOCK:
            running = _RUNNING.setdefault(str(self.ledger.path), {})
            held = Spend()
            for spend in running.values():
                held = held + spend
            reason = would_cross(caps, self.day_spent(rows, task_spent), task_spent, step, held)
            if reason:
                return reason, 0
            handle = next(_TOKENS)
            running[handle] = step
        return "", handle

    def live_check(self, handle: int, task_spent: Spend) -> UsageCheck | None:
        """The check of a running step's streamed usage (None when no cap is set). ``handle``:
        its reservation, which grows to what it streamed; ``task_spent``: its task's earlier
        steps. Streamed tokens are priced from ``pricing:`` (Claude Code names its cost only at
        the end): a model with no price there is held by the token cap alone mid-step."""
        caps = self.caps
        if not caps.any:
            return None
        pricing = self.project.config.pricing
        key = str(self.ledger.path)

        def check(usage: LiveUsage, model: str | None) -> str:
            cost, _ = price(pricing, model or "", usage.input_tokens, usage.output_tokens)
            sent, received = usage.next_request
            ahead, _ = price(pricing, model or "", sent, received)
            live = Spend(cost or 0.0, usage.tokens)
            following = Spend(ahead or 0.0, sent + received)
            others = Spend()
            with _LOCK:
                running = _RUNNING.get(key, {})
                if handle in running:
                    mine, seen = running[handle], live + following
                    running[handle] = Spend(
                        max(mine.cost, seen.cost), max(mine.tokens, seen.tokens)
                    )
                for held, spend in running.items():
                    others = others if held == handle else others + spend
            day = self.day_spent(self.rows_today(), task_spent)
            return stop_mid_step(caps, day, task_spent, live, following, others)

        return check

    def after_step(self, handle: int, record: StepRecord | None) -> None:
        """The step ended: its reservation is given back and its usage recorded (None: it
        raised, nothing to record)."""
        with _LOCK:
            _RUNNING.get(str(self.ledger.path), {}).pop(handle, None)
        if record is None or not self.write or not is_agent_step(record):
            return
        cfg = self.project.config
        row = row_of(
            record,
            profiles=cfg.workers,
            pricing=cfg.pricing,
            cycle=self.cycle,
            host=self.host,
            time_zone=cfg.limits.time_zone,
            now=self.clock(),
        )
        self.ledger.append([row])
        if row.priced == "unpriced":
            logger.bind(task_id=record.task_id).warning(
                "{} · {}: model {!r} has no price in `pricing:`; its {} tokens are counted "
                "as unpriced, not $0",
                record.task_id,
                record.step,
                row.model,
                row.tokens,
            )

    def window_stop(self, worker: str) -> str:
        """Why ``worker``'s subscription window lets no step start now ('' when it does)."""
        profile = self.project.config.workers.get(worker)
        if profile is None or profile.window is None or not self.write:
            return ""
        now = self.clock().timestamp()
        since = day_of(
            datetime.fromtimestamp(now - profile.window.hours * 3600, UTC),
            self.project.config.limits.time_zone,
        )
        uses = [
            Use(datetime.fromisoformat(r.at.replace("Z", "+00:00")).timestamp(), r.duration)
            for r in self.ledger.rows(since_day=since)
            if r.worker == worker
        ]
        return window_used_up(worker, profile.window, uses, now)

    def window_claim_stop(self) -> str:
        """Why no task may be claimed: a step of the workflow whose profile and every fallback
        have used up their windows ('' otherwise; the reason says when they free)."""
        cfg = self.project.config
        for step in cfg.workflows.roocode_boomerang.steps:
            names = dict.fromkeys([step.worker, *cfg.workers[step.worker].fallback])
            said = [self.window_stop(name) for name in names]
            if all(said):
                return "; ".join(said)
        return ""

    def _warn(self, caps: Caps, day: Spend) -> None:
        said = warning(caps, day)
        key, today = str(self.ledger.path), self.today()
        if said and _WARNED.get(key) != today:
            _WARNED[key] = today
            logger.bind(event="spending").warning("{} (limits.warn_at {:g})", said, caps.warn_at)

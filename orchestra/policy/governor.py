"""The spending governor's rules, pure: the daily and per-task caps, their warn level, and a
subscription's rolling window. The numbers come from the usage ledger (engine/ledger.py,
engine/spending.py); what happens at a cap (nothing claimed, no step started that would cross
it, schedules paused until the day rolls over) is the caller's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from orchestra.config.models import LimitsConfig
from orchestra.config.spending import UsageWindow

#: In a stop reason: a spending cap (the flow pauses the schedules until the day rolls over).
CAP_MARK = "spending cap"

#: In a stop reason: a profile's rolling window is used up.
WINDOW_MARK = "usage window"


@dataclass(frozen=True)
class Spend:
    """Money and tokens: spent so far, or a step's estimate."""

    cost: float = 0.0
    tokens: int = 0
    unpriced: int = 0
    """Steps that reported tokens of a model with no price (their cost is unknown, not $0)."""

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            self.cost + other.cost, self.tokens + other.tokens, self.unpriced + other.unpriced
        )

    def text(self) -> str:
        """``$1.23, 45,600 tokens (+2 unpriced steps)``."""
        more = f" (+{self.unpriced} unpriced step{'s' if self.unpriced != 1 else ''})"
        return f"${self.cost:.2f}, {self.tokens:,} tokens" + (more if self.unpriced else "")


@dataclass(frozen=True)
class Caps:
    """The configured caps (None: no cap)."""

    day_cost: float | None = None
    day_tokens: int | None = None
    task_cost: float | None = None
    warn_at: float = 0.8

    @classmethod
    def of(cls, limits: LimitsConfig) -> Caps:
        """From ``limits:``."""
        return cls(
            limits.max_cost_per_day_usd,
            limits.max_tokens_per_day,
            limits.max_cost_per_task_usd,
            limits.warn_at,
        )

    @property
    def any(self) -> bool:
        """Whether any cap is set."""
        return (
            self.day_cost is not None or self.day_tokens is not None or self.task_cost is not None
        )


def day_cap_reached(caps: Caps, day: Spend) -> str:
    """Why nothing more may be claimed today ('' while under the daily caps)."""
    if caps.day_cost is not None and day.cost >= caps.day_cost:
        return f"{CAP_MARK}: ${day.cost:.2f} spent today (limits.max_cost_per_day_usd {caps.day_cost:g})"
    if caps.day_tokens is not None and day.tokens >= caps.day_tokens:
        return f"{CAP_MARK}: {day.tokens:,} tokens today (limits.max_tokens_per_day {caps.day_tokens:,})"
    return ""


def would_cross(
    caps: Caps, day: Spend, task: Spend, step: Spend, running: Spend | None = None
) -> str:
    """Why a step estimated at ``step`` may not start ('' when it fits under every cap).

    ``day``: the steps recorded today; ``running``: the estimates of the steps running now."""
    held = running or Spend()
    if reached := day_cap_reached(caps, day):
        return reached
    after = day + held + step
    also = f" (+ ${held.cost:.2f} running)" if held.cost else ""
    if caps.day_cost is not None and after.cost > caps.day_cost:
        return (
            f"{CAP_MARK}: the next step (about ${step.cost:.2f}) would take today's spending, "
            f"${day.cost:.2f}{also}, past limits.max_cost_per_day_usd {caps.day_cost:g}"
        )
    if caps.day_tokens is not None and after.tokens > caps.day_tokens:
        return (
            f"{CAP_MARK}: the next step (about {step.tokens:,} tokens) would take today's "
            f"{day.tokens + held.tokens:,} tokens past limits.max_tokens_per_day {caps.day_tokens:,}"
        )
    if caps.task_cost is not None and (task + step).cost > caps.task_cost:
        return (
            f"{CAP_MARK} of the task: ${task.cost:.2f} spent, the next step (about "
            f"${step.cost:.2f}) would cross limits.max_cost_per_task_usd {caps.task_cost:g}"
        )
    return ""


def stop_mid_step(
    caps: Caps, day: Spend, task: Spend, live: Spend, next_request: Spend, running: Spend
) -> str:
    """Why a running step must stop now ('' to go on): what it used so far (``live``) plus its
    next model request (``next_request``: its latest one, grown as the conversation grows)
    would cross a cap. ``day``: the steps recorded today; ``running``: the other steps running
    now (their estimates, or what they streamed); ``task``: the task's earlier steps."""
    after = day + running + live + next_request
    so_far = f"stopped mid-step at ${live.cost:.4f}, {live.tokens:,} tokens"
    also = f" (+ ${running.cost:.2f} running)" if running.cost else ""
    if caps.day_cost is not None and after.cost > caps.day_cost:
        return (
            f"{CAP_MARK}: {so_far}: its next request (about ${next_request.cost:.4f}) would take "
            f"today's spending, ${day.cost + live.cost:.4f}{also}, past "
            f"limits.max_cost_per_day_usd {caps.day_cost:g}"
        )
    if caps.day_tokens is not None and after.tokens > caps.day_tokens:
        return (
            f"{CAP_MARK}: {so_far}: its next request (about {next_request.tokens:,} tokens) "
            f"would take today's {day.tokens + running.tokens + live.tokens:,} tokens past "
            f"limits.max_tokens_per_day {caps.day_tokens:,}"
        )
    if caps.task_cost is not None and (task + live + next_request).cost > caps.task_cost:
        return (
            f"{CAP_MARK} of the task: {so_far}: its next request (about "
            f"${next_request.cost:.4f}) would take the task's ${task.cost + live.cost:.4f} past "
            f"limits.max_cost_per_task_usd {caps.task_cost:g}"
        )
    return ""


def warning(caps: Caps, day: Spend) -> str:
    """What to warn about at the warn level ('' below it)."""
    said: list[str] = []
    if caps.day_cost and day.cost >= caps.warn_at * caps.day_cost:
        said.append(f"${day.cost:.2f} of ${caps.day_cost:g} ({day.cost / caps.day_cost:.0%})")
    if caps.day_tokens and day.tokens >= caps.warn_at * caps.day_tokens:
        said.append(
            f"{day.tokens:,} of {caps.day_tokens:,} tokens ({day.tokens / caps.day_tokens:.0%})"
        )
    return ("today's spending is at " + " and ".join(said)) if said else ""


def next_day(now: datetime, time_zone: str) -> datetime:
    """The start of the day after ``now``'s in ``time_zone`` (UTC): when a daily cap frees."""
    local = now.astimezone(ZoneInfo(time_zone))
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time())
    return midnight.replace(tzinfo=ZoneInfo(time_zone)).astimezone(UTC)


@dataclass(frozen=True)
class Use:
    """One step of a profile: when it ended (epoch seconds) and how long it ran."""

    ended: float
    seconds: float


def window_used_up(worker: str, window: UsageWindow, uses: Sequence[Use], now: float) -> str:
    """Why ``worker`` may run no step now, with the time its window frees ('' when it may)."""
    start = now - window.hours * 3600
    inside = sorted((u for u in uses if u.ended > start), key=lambda u: u.ended)
    minutes = sum(u.seconds for u in inside) / 60
    full = ""
    if window.max_requests is not None and len(inside) >= window.max_requests:
        # Frees when enough of the oldest steps fall out of the window.
        oldest = inside[len(inside) - window.max_requests]
        frees = oldest.ended + window.hours * 3600
        full = f"{len(inside)} steps in {window.hours:g} h (max_requests {window.max_requests})"
    elif window.max_agent_minutes is not None and minutes >= window.max_agent_minutes:
        over, frees = minutes - window.max_agent_minutes, inside[-1].ended + window.hours * 3600
        for use in inside:
            over -= use.seconds / 60
            if over < 0:
                frees = use.ended + window.hours * 3600
                break
        full = f"{minutes:.1f} agent-minutes in {window.hours:g} h (max_agent_minutes {window.max_agent_minutes:g})"
    if not full:
        return ""
    when = datetime.fromtimestamp(frees, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{WINDOW_MARK} of {worker} used up: {full}; frees at {when}"

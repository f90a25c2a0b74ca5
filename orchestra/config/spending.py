"""The spending governor's keys: the daily and per-task caps (part of ``limits:``), a worker's
subscription window, and the ``pricing:`` table of models whose CLI reports no cost."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator

from orchestra.config.strict import Strict


class UsageWindow(Strict):
    hours: float = Field(5.0, gt=0)
    """Length of the rolling window (5 for a 5-hour limit, 168 for a weekly one)."""
    max_agent_minutes: float | None = Field(None, gt=0)
    """Minutes of agent steps of this profile allowed within the window."""
    max_requests: int | None = Field(None, ge=1)
    """Agent steps (each one run of the CLI) of this profile allowed within the window."""


class ModelPrice(Strict):
    input_usd_per_mtok: float = Field(..., ge=0)
    """US dollars per million input tokens."""
    output_usd_per_mtok: float = Field(..., ge=0)
    """US dollars per million output tokens."""


class SpendingLimits(Strict):
    """The caps of ``limits:`` (LimitsConfig adds the other stop rules)."""

    max_cost_per_day_usd: float | None = Field(None, ge=0)
    """Spending cap per day (limits.time_zone), across parallel tasks and hosts (the usage
    ledger adds up every step): at the cap nothing more is claimed, no step starts that would
    cross it and the schedules pause until the day rolls over."""
    max_tokens_per_day: int | None = Field(None, ge=1)
    """Token cap (input + output) per day, enforced like max_cost_per_day_usd."""
    max_cost_per_task_usd: float | None = Field(None, ge=0)
    """Spending cap of one task: no step starts that would cross it; the task goes back to the
    queue without an attempt."""
    warn_at: float = Field(0.8, gt=0, le=1)
    """Share of a cap at which the log and the usage artifact warn."""
    time_zone: str = "UTC"
    """Time zone whose days the daily caps and `orchestra usage --by day` count (IANA name)."""

    @model_validator(mode="after")
    def _check_time_zone(self) -> SpendingLimits:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = (
                f"limits.time_zone {self.time_zone!r} is not a known IANA time zone "
                f"(e.g. Europe/Berlin): {exc}"
            )
            raise ValueError(msg) from exc
        return self

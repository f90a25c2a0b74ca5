"""The spending governor's rules: daily and per-task caps, the warn level, the day's end in the
configured time zone, and a subscription's rolling window with the time it frees."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestra.config.spending import UsageWindow
from orchestra.policy.governor import (
    CAP_MARK,
    Caps,
    Spend,
    Use,
    day_cap_reached,
    next_day,
    stop_mid_step,
    warning,
    window_used_up,
    would_cross,
)


def test_under_the_caps_a_step_may_start() -> None:
    caps = Caps(day_cost=5.0, day_tokens=1_000_000, task_cost=1.0)
    assert would_cross(caps, Spend(1.0, 1000), Spend(0.2, 10), Spend(0.3, 100)) == ""


def test_a_step_that_would_cross_the_day_cap_does_not_start() -> None:
    """$4.80 spent, a step of about $0.30: $5.10 would cross $5."""
    reason = would_cross(Caps(day_cost=5.0), Spend(4.8, 0), Spend(), Spend(0.3, 0))
    assert CAP_MARK in reason and "max_cost_per_day_usd 5" in reason, reason


def test_the_token_cap_counts_input_and_output() -> None:
    reason = would_cross(Caps(day_tokens=10_000), Spend(0, 9_000), Spend(), Spend(0, 1_500))
    assert "max_tokens_per_day 10,000" in reason, reason


def test_the_task_cap_holds_for_one_task_only() -> None:
    caps = Caps(task_cost=1.0)
    assert "max_cost_per_task_usd 1" in would_cross(caps, Spend(50.0), Spend(0.9), Spend(0.2))
    assert would_cross(caps, Spend(50.0), Spend(0.1), Spend(0.2)) == ""


def test_at_the_cap_nothing_is_claimed() -> None:
    assert day_cap_reached(Caps(day_cost=2.0), Spend(2.0)) != ""
    assert day_cap_reached(Caps(day_cost=2.0), Spend(1.99)) == ""
    assert day_cap_reached(Caps(), Spend(1e9, 10**12)) == ""


def test_warns_at_the_warn_level() -> None:
    caps = Caps(day_cost=10.0, warn_at=0.8)
    assert warning(caps, Spend(7.9)) == ""
    assert "$8.00 of $10 (80%)" in warning(caps, Spend(8.0))


def test_unpriced_steps_are_named_never_zero() -> None:
    assert Spend(1.5, 2000, 2).text() == "$1.50, 2,000 tokens (+2 unpriced steps)"


def test_the_day_rolls_over_in_the_configured_time_zone() -> None:
    """23:30 UTC on 7 December is already 8 December in Berlin: its cap frees at 23:00 UTC
    on the 8th."""
    now = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)
    assert next_day(now, "UTC") == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)
    assert next_day(now, "Europe/Berlin") == datetime(2026, 12, 8, 23, 0, tzinfo=UTC)


def test_a_window_of_requests_frees_when_its_oldest_step_leaves_it() -> None:
    window = UsageWindow(hours=5, max_requests=2)
    now = 100_000.0
    uses = [Use(now - 4 * 3600, 60), Use(now - 3600, 60), Use(now - 6 * 3600, 60)]
    reason = window_used_up("coder", window, uses, now)
    assert "usage window of coder used up: 2 steps in 5 h" in reason, reason
    frees = datetime.fromtimestamp(now - 4 * 3600 + 5 * 3600, UTC).strftime("%Y-%m-%d %H:%M")
    assert f"frees at {frees} UTC" in reason
    assert window_used_up("coder", window, uses[1:], now) == ""


def test_a_window_of_agent_minutes() -> None:
    window = UsageWindow(hours=5, max_agent_minutes=30)
    now = 100_000.0
    assert window_used_up("c", window, [Use(now - 60, 20 * 60)], now) == ""
    full = [Use(now - 7200, 20 * 60), Use(now - 60, 15 * 60)]
    reason = window_used_up("c", window, full, now)
    assert "35.0 agent-minutes in 5 h (max_agent_minutes 30)" in reason, reason
    # 5 minutes over: the first step (20 min) must leave the window.
    frees = datetime.fromtimestamp(now - 7200 + 5 * 3600, UTC).strftime("%H:%M")
    assert frees in reason


def test_running_steps_count_toward_the_day_cap() -> None:
    """$1 recorded, $1 running, a step of about $1: $3 would cross $2.50; the reason says so."""
    reason = would_cross(Caps(day_cost=2.5), Spend(1.0), Spend(), Spend(1.0), Spend(1.0))
    assert "today's spending, $1.00 (+ $1.00 running), past" in reason, reason
    assert would_cross(Caps(day_cost=2.5), Spend(1.0), Spend(), Spend(1.0)) == ""


class TestStopMidStep:
    def test_a_step_goes_on_while_its_next_request_fits(self) -> None:
        """$0.02 recorded, $0.03 streamed, the next request about $0.01: $0.06 fits $0.08."""
        caps = Caps(day_cost=0.08)
        said = stop_mid_step(caps, Spend(0.02), Spend(), Spend(0.03), Spend(0.01), Spend())
        assert said == ""

    def test_it_stops_when_its_next_request_would_cross_the_day_cap(self) -> None:
        """$0.06 streamed and a next request of about $0.03 would take $0 recorded past $0.08."""
        caps = Caps(day_cost=0.08)
        said = stop_mid_step(caps, Spend(), Spend(), Spend(0.06, 20_000), Spend(0.03), Spend())
        assert said.startswith(f"{CAP_MARK}: stopped mid-step at $0.0600, 20,000 tokens"), said
        assert "max_cost_per_day_usd 0.08" in said

    def test_the_steps_running_beside_it_count(self) -> None:
        caps = Caps(day_cost=1.0)
        alone = stop_mid_step(caps, Spend(0.5), Spend(), Spend(0.2), Spend(0.1), Spend())
        beside = stop_mid_step(caps, Spend(0.5), Spend(), Spend(0.2), Spend(0.1), Spend(0.3))
        assert alone == "" and "(+ $0.30 running)" in beside, beside

    def test_the_token_cap_and_the_task_cap(self) -> None:
        tokens = stop_mid_step(
            Caps(day_tokens=25_000), Spend(), Spend(), Spend(0, 20_000), Spend(0, 10_000), Spend()
        )
        assert "max_tokens_per_day 25,000" in tokens, tokens
        task = stop_mid_step(
            Caps(task_cost=0.5), Spend(9.0), Spend(0.3), Spend(0.15), Spend(0.1), Spend()
        )
        assert f"{CAP_MARK} of the task" in task and "max_cost_per_task_usd 0.5" in task, task

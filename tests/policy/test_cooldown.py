"""The cool-down a rate limit's "try again in N s" starts, kept across cycles."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.policy.cooldown import MAX_WAIT_SECONDS, Cooldown, wait_seconds

RATE_LIMITED = (
    "implement (coder): claude: model API rate limit or quota (429 API Error: Request rejected "
    "(429) · Rate limit reached. Please try again in 20s.)"
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Please try again in 20s.", 20.0),
        ("Please try again in 1.5 seconds", 1.5),
        ("try again in 250ms", 0.25),
        ("retry after 2 minutes", 120.0),
        ("Try again in 3 hours", 3 * 3600.0),
        ("Try again in 72 hours", MAX_WAIT_SECONDS),
        ("exceeded retry limit, last status: 429 Too Many Requests", None),
    ],
)
def test_wait_seconds(text: str, seconds: float | None) -> None:
    assert wait_seconds(text) == seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_rate_limited_task_starts_a_cool_down(tmp_path: Path) -> None:
    clock = Clock()
    cooldown = Cooldown(tmp_path, clock)
    assert cooldown.active() == ""
    assert cooldown.note({"kind": "infrastructure", "reason": RATE_LIMITED}) == 20.0
    clock.now += 5
    said = Cooldown(tmp_path, clock).active()  # read back from the file, as the next cycle does
    assert said.startswith("cooling down until ")
    assert "(15 s left), as the model API asked: implement (coder)" in said
    clock.now += 16
    assert Cooldown(tmp_path, clock).active() == ""


def test_other_failures_start_none(tmp_path: Path) -> None:
    cooldown = Cooldown(tmp_path, Clock())
    assert cooldown.note({"kind": "task", "reason": RATE_LIMITED}) is None
    assert cooldown.note({"kind": "infrastructure", "reason": "model API overloaded"}) is None
    no_wait = "claude: model API rate limit or quota (429 rate limited)"
    assert cooldown.note({"kind": "infrastructure", "reason": no_wait}) is None
    assert not cooldown.path.exists()

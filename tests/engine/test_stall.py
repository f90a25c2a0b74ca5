"""The stall watch: nothing but "reconnecting" for the limit stops the step; progress resets it."""

from __future__ import annotations

from orchestra.engine.stall import StallWatch


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_fires_after_the_limit_of_reconnecting() -> None:
    seen: list[str] = []
    clock = Clock()
    watch = StallWatch(lambda stream, line: seen.append(line), limit=60, clock=clock)
    watch("stdout", '{"type":"error","message":"Reconnecting... waiting for network"}')
    clock.now = 59
    assert watch.check() is None
    clock.now = 61
    reason = watch.check()
    assert reason is not None
    assert reason.startswith("model API unreachable: stopped after 61 s of reconnecting")
    assert "waiting for network" in reason
    assert len(seen) == 1  # every line still reaches the output log


def test_progress_resets_the_watch() -> None:
    clock = Clock()
    watch = StallWatch(lambda stream, line: None, limit=60, clock=clock)
    watch("stdout", "Reconnecting... 1/5 (stream disconnected before completion)")
    clock.now = 50
    watch("stdout", '{"type":"item.completed","item":{"type":"agent_message","text":"hi"}}')
    clock.now = 200
    assert watch.check() is None


def test_the_operators_stop_comes_first() -> None:
    clock = Clock()
    watch = StallWatch(lambda stream, line: None, limit=1, clock=clock)
    watch("stderr", "retrying in 5 seconds")
    clock.now = 5
    assert watch.stop_check(lambda: "kill switch")() == "kill switch"
    assert watch.stop_check(None)() is not None


def test_tool_output_is_not_the_cli_reconnecting() -> None:
    """A command the agent ran printed "Reconnecting" (codex reports it as an item): no stall."""
    clock = Clock()
    watch = StallWatch(lambda stream, line: None, limit=60, clock=clock)
    watch(
        "stdout",
        '{"type":"item.completed","item":{"type":"command_execution",'
        '"aggregated_output":"Reconnecting... retrying in 5 s"}}',
    )
    clock.now = 500
    assert watch.check() is None

"""A CLI stuck reconnecting to its model API is stopped early, with that reason.

Codex prints ``Reconnecting... 2/5 (stream disconnected ...)`` and, with no network at all,
waits for one; Claude Code retries a dead endpoint silently. Either can outlast a step's time
limit (300 s by default) while nothing useful happens. :class:`StallWatch` sits between the
runtime and the step's output log: once the agent's output says it is reconnecting or waiting
for the network and no other line follows for ``limit`` seconds, its stop check ends the step.
The step then fails as ``unreachable`` (an infrastructure failure, no attempt spent), not at
the time limit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from orchestra.agents.base import one_line
from orchestra.runtime.base import LineSink, StopCheck

#: Seconds of nothing but reconnecting before the step is stopped.
STALL_SECONDS = 60.0

#: Lines a CLI prints while it retries a model API it cannot reach (codex's ``Reconnecting...``
#: errors, aider's ``Retrying in 0.2 seconds``).
RECONNECTING = re.compile(r"reconnecting|waiting for network|retrying in \d", re.IGNORECASE)

#: Lines that carry what the agent's own tools printed (codex's ``item.*`` events): a test
#: suite saying "retrying in 5 s" is not the CLI reconnecting.
_TOOL_OUTPUT = re.compile(r'"type"\s*:\s*"item\.')


class StallWatch:
    """A line sink (forwarding to ``sink``) and a stop check: ``fired`` holds the reason once
    the output has said nothing but "reconnecting" for ``limit`` seconds."""

    def __init__(
        self,
        sink: LineSink,
        limit: float = STALL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._limit = limit
        self._clock = clock
        self._since: float | None = None
        self._last = ""
        self.fired: str | None = None

    def __call__(self, stream: str, line: str) -> None:
        self._sink(stream, line)
        if RECONNECTING.search(line) and not _TOOL_OUTPUT.search(line):
            if self._since is None:
                self._since = self._clock()
            self._last = line
        elif line.strip():
            self._since = None  # the agent got through: anything else is progress

    def check(self) -> str | None:
        """The stop reason once the agent has been stuck for ``limit`` seconds, else None."""
        if self.fired is None and self._since is not None:
            stuck = self._clock() - self._since
            if stuck >= self._limit:
                self.fired = (
                    f"model API unreachable: stopped after {stuck:.0f} s of reconnecting "
                    f"(last: {one_line(self._last)})"
                )
        return self.fired

    def stop_check(self, outer: StopCheck | None) -> StopCheck:
        """``outer`` (the operator's stop) first, then this watch."""

        def check() -> str | None:
            return (outer() if outer is not None else None) or self.check()

        return check

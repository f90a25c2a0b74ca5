"""The spending caps on a step while it runs, for CLIs that stream their usage.

:class:`LiveCap` sits between the runtime and the step's output log, like the stall watch: it
feeds every stdout line to the adapter's usage meter (agents/streaming.py) and, each time the
usage grows, asks the governor's check (engine/spending.py) whether the step's next model
request would cross a cap. Its stop check then ends the step with that reason: the runtime kills
the agent (its process group, or its container) within one poll, before a tool the model asked
for has run for long. The step is ``stopped`` (an operator stop: its task goes back to the queue
with no attempt); the usage it streamed up to then is its record's, and so the ledger's.
"""

from __future__ import annotations

from collections.abc import Callable

from orchestra.agents.streaming import LiveUsage, UsageMeter
from orchestra.runtime.base import LineSink, StopCheck

UsageCheck = Callable[[LiveUsage, str | None], str]
"""(what the step streamed so far, its model) → why it must stop now ('' to go on)."""


class LiveCap:
    """A line sink (forwarding to ``sink``) and a stop check: ``fired`` holds the cap's reason
    once ``check`` gave one."""

    def __init__(
        self, sink: LineSink, meter: UsageMeter, check: UsageCheck, model: str | None
    ) -> None:
        self._sink = sink
        self._meter = meter
        self._check = check
        self._model = model
        self.fired: str | None = None

    def __call__(self, stream: str, line: str) -> None:
        self._sink(stream, line)
        if self.fired is None and stream == "stdout" and self._meter.feed(line):
            self.fired = self._check(self._meter.usage, self._model) or None

    @property
    def usage(self) -> LiveUsage:
        """What the step streamed so far."""
        return self._meter.usage

    def stop_check(self, outer: StopCheck) -> StopCheck:
        """``outer`` first, then the cap."""

        def check() -> str | None:
            return outer() or self.fired

        return check

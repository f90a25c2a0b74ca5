"""Reasons to stop a running step from outside the agent: the kill switch and cancellation.

An ad-hoc ``python -m flows.run`` never receives Prefect's cancellation signal, so the runtime's
wait loop polls this: the ``.orchestra/STOP`` file, and (through an injected check, which the flows
point at the Prefect API) whether the run was cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from orchestra.policy.killswitch import stop_file

CancelCheck = Callable[[], bool]
"""True once the run was cancelled; may be slow (an API call), so it is polled sparingly."""


class ShouldStop:
    """The ``should_stop`` of a running step: a reason to stop it, or None to keep going."""

    def __init__(
        self, project: Path, cancelled: CancelCheck | None = None, *, api_interval: float = 2.0
    ) -> None:
        self._stop_file = stop_file(project)
        self._check = cancelled
        self._api_interval = api_interval
        # The first API check waits one interval too: a step that ends sooner costs no API
        # call (two reads per step on a busy SQLite API were a measurable share of a fast step).
        self._next_api_check = time.monotonic() + api_interval
        self._cancelled = False

    def __call__(self) -> str | None:
        if self._stop_file.exists():
            return f"kill switch {str(self._stop_file)!r} is set (`orchestra resume` clears it)"
        if self._check and not self._cancelled and time.monotonic() >= self._next_api_check:
            self._next_api_check = time.monotonic() + self._api_interval
            self._cancelled = self._check()
        if self._cancelled:
            return "the flow run was cancelled"
        return None

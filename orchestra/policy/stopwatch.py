"""Reasons to stop a running step from outside the agent: the kill switch and cancellation.

An ad-hoc ``python -m flows.run`` never receives Prefect's cancellation signal, so the runtime's
wait loop polls this: the ``.orchestra/STOP`` file, and the flow run's state turning Cancelling.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from orchestra.policy.killswitch import stop_file
from orchestra.prefect.cancel import is_cancelling


class StopWatcher:
    """Callable for ``should_stop``: returns a reason, or None to keep going."""

    def __init__(
        self, project: Path, flow_run_ids: Sequence[str | None], *, api_interval: float = 2.0
    ) -> None:
        self._stop_file = stop_file(project)
        # The step's own run and its root (the cycle): cancelling either stops the step.
        self._flow_run_ids = list(dict.fromkeys(r for r in flow_run_ids if r))
        self._api_interval = api_interval
        self._next_api_check = 0.0
        self._cancelled = False

    def __call__(self) -> str | None:
        if self._stop_file.exists():
            return f"kill switch {str(self._stop_file)!r} is set (`orchestra resume` clears it)"
        if self._flow_run_ids and not self._cancelled and time.monotonic() >= self._next_api_check:
            self._next_api_check = time.monotonic() + self._api_interval
            self._cancelled = any(is_cancelling(run_id) for run_id in self._flow_run_ids)
        if self._cancelled:
            return "the flow run was cancelled"
        return None

"""Worker runtimes: how one step (one agent invocation) is run.

``ProcessRuntime`` runs it natively; the Docker runtime lives in ``orchestra.runtime.docker`` and
is imported only where it is used, so the Docker SDK stays off this import path.
"""

from orchestra.runtime.base import (
    MAX_CAPTURE_CHARS,
    TAIL_LINES,
    LineSink,
    OutputCollector,
    StepRequest,
    StepResult,
    StopCheck,
    WorkerRuntime,
)
from orchestra.runtime.process import ProcessRuntime

__all__ = [
    "MAX_CAPTURE_CHARS",
    "TAIL_LINES",
    "LineSink",
    "OutputCollector",
    "ProcessRuntime",
    "StepRequest",
    "StepResult",
    "StopCheck",
    "WorkerRuntime",
]

"""Worker runtimes: how one step (one agent invocation) is run.

A runtime is built from a profile's :data:`~orchestra.config.models.RuntimeSettings` by
:func:`build_runtime`: ``ProcessConfig`` gives a :class:`ProcessRuntime` (native), a
``DockerConfig`` a :class:`~orchestra.runtime.docker.DockerRuntime`, imported only then, so the
Docker SDK stays off the import path of process-only runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestra.config.models import DockerConfig, ProcessConfig, RuntimeSettings
from orchestra.runtime.base import (
    MAX_CAPTURE_CHARS,
    TAIL_LINES,
    LineSink,
    StepRequest,
    StepResult,
    StopCheck,
    WorkerRuntime,
)
from orchestra.runtime.output import OutputCollector
from orchestra.runtime.process import ProcessRuntime

DockerClientFactory = Callable[[str | None, str], Any]
"""(base_url, api version or "auto") → a connected ``docker.DockerClient``."""


def build_runtime(
    settings: RuntimeSettings,
    *,
    project_id: str,
    run_id: str,
    kill_grace: float,
    docker_client: DockerClientFactory | None = None,
) -> WorkerRuntime:
    """The runtime for one profile's settings (a new one per call; see RuntimePool to reuse)."""
    if isinstance(settings, ProcessConfig):
        return ProcessRuntime(kill_grace=kill_grace)
    if isinstance(settings, DockerConfig):
        from orchestra.runtime.docker import DockerRuntime

        return DockerRuntime(
            settings,
            project_id=project_id,
            run_id=run_id,
            kill_grace=kill_grace,
            engine_client=docker_client,
        )
    msg = f"no runtime for settings {settings!r}; use runtime: process or docker"
    raise TypeError(msg)


__all__ = [
    "MAX_CAPTURE_CHARS",
    "TAIL_LINES",
    "DockerClientFactory",
    "LineSink",
    "OutputCollector",
    "ProcessRuntime",
    "StepRequest",
    "StepResult",
    "StopCheck",
    "WorkerRuntime",
    "build_runtime",
]

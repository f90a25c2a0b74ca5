"""Worker runtimes: how one step (one agent invocation) is run, and what its agent sees.

A runtime is built from a profile's tagged settings (:data:`~orchestra.config.models.
RuntimeSettings`) by :func:`build_runtime`, which finds its module by the settings' ``kind``:
``orchestra.runtime.<kind>`` with a ``build(settings, context)`` and a ``view(settings)``
function. So a new runtime is that module plus its config class, and nothing outside this
package names a runtime kind. Modules are imported only when used, so the Docker SDK stays off
the import path of process-only runs.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import cast

from orchestra.config.runtimes import RuntimeSettings
from orchestra.errors import ConfigError
from orchestra.runtime.base import (
    LABEL_OWNER,
    LABEL_STEP,
    LABEL_TASK,
    MAX_CAPTURE_CHARS,
    TAIL_LINES,
    EngineClientFactory,
    LineSink,
    OwnerAlive,
    RuntimeContext,
    StepRequest,
    StepResult,
    StopCheck,
    WorkerRuntime,
)
from orchestra.runtime.output import OutputCollector
from orchestra.runtime.process import ProcessRuntime
from orchestra.runtime.view import AgentView, HostView

DockerClientFactory = EngineClientFactory
"""The older name of :data:`EngineClientFactory`."""


def _module(settings: RuntimeSettings) -> ModuleType:
    name = f"{__name__}.{settings.kind}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        msg = f"no runtime module {name!r} for `runtime: {{kind: {settings.kind}}}`"
        raise ConfigError(msg) from exc


def build_runtime(
    settings: RuntimeSettings,
    *,
    project_id: str,
    run_id: str,
    kill_grace: float,
    engine_client: EngineClientFactory | None = None,
    kept: bool = False,
) -> WorkerRuntime:
    """The runtime for one profile's settings (a new one per call; see RuntimePool to reuse).
    ``kept``: the caller closes it after its steps (it may share things between them)."""
    context = RuntimeContext(project_id, run_id, kill_grace, engine_client, kept)
    return cast(WorkerRuntime, _module(settings).build(settings, context))


def view_of(settings: RuntimeSettings) -> AgentView:
    """What the agent of a step run with ``settings`` sees (nothing is started or called)."""
    return cast(AgentView, _module(settings).view(settings))


__all__ = [
    "LABEL_OWNER",
    "LABEL_STEP",
    "LABEL_TASK",
    "MAX_CAPTURE_CHARS",
    "TAIL_LINES",
    "AgentView",
    "DockerClientFactory",
    "EngineClientFactory",
    "HostView",
    "LineSink",
    "OutputCollector",
    "OwnerAlive",
    "ProcessRuntime",
    "RuntimeContext",
    "StepRequest",
    "StepResult",
    "StopCheck",
    "WorkerRuntime",
    "build_runtime",
    "view_of",
]

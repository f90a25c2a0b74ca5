"""The WorkerRuntime protocol: how one step (one agent invocation) is run.

A runtime takes a :class:`StepRequest` (argv, env, workspace, output folder, time limit) and
returns a :class:`StepResult`. It owns time limits and cleanup: the flows never put
``timeout_seconds`` on anything (a flow-level timeout disables task interruption in Prefect 3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from orchestra.runtime.view import AgentView

#: How many lines of combined output a result keeps as its tail.
TAIL_LINES = 40
#: How many characters of stdout a result keeps for the agent adapter to parse.
MAX_CAPTURE_CHARS = 2_000_000

LineSink = Callable[[str, str], None]
"""Called with (stream, line) for every output line, stream being "stdout" or "stderr"."""

StopCheck = Callable[[], str | None]
"""Polled while a step runs; a non-empty string asks the runtime to stop the step (the reason)."""

OwnerAlive = Callable[[str | None], bool]
"""Whether the process named by an owner label (``host:pid``) still runs: what a sweep keeps."""

EngineClientFactory = Callable[[str | None, str], Any]
"""(engine address or None for the default, API version or "auto") → a connected client of the
runtime's engine (the Docker runtime's; tests and Prefect pass their own)."""

#: Labels a runtime puts on whatever a step leaves running (containers), so a sweep finds it.
LABEL_PREFIX = "orchestra."
LABEL_PROJECT = "orchestra.project"
LABEL_RUN = "orchestra.run"
LABEL_TASK = "orchestra.task"
LABEL_STEP = "orchestra.step"
LABEL_MANAGED = "orchestra.managed"
LABEL_OWNER = "orchestra.owner"
"""Names the process that ran the step's cycle (``host:pid:start``), for the sweep."""


@dataclass(frozen=True)
class RuntimeContext:
    """What every runtime is built with, besides its own settings."""

    project_id: str
    run_id: str
    kill_grace: float = 10.0
    engine_client: EngineClientFactory | None = None
    kept: bool = False
    """The runtime is kept for a flow run's steps (a RuntimePool), which closes it after them:
    it may keep what steps can share (egress networks) until :meth:`WorkerRuntime.close`."""


@dataclass(frozen=True)
class StepRequest:
    """Everything a runtime needs to run one step.

    ``workspace`` and ``output_dir`` are host paths. ``argv`` and ``env`` are already written
    for the place the step runs in (the Docker runtime rewrites host paths it finds in them).
    """

    argv: Sequence[str]
    workspace: Path
    output_dir: Path
    timeout: float
    env: Mapping[str, str] = field(default_factory=dict)
    stdin_path: Path | None = None
    read_only_workspace: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    name: str = "step"
    objects_dir: Path | None = None
    """The user's git object folder, for the agent's own `.git` to borrow from. The Docker
    runtime mounts it read-only; a process step reads it in place (trusted agents only)."""
    egress: tuple[str, ...] = ()
    """Hosts (`host:port`, as the step names them) the step must reach: its model APIs. A
    runtime that filters egress lets these through; others ignore it."""


@dataclass(frozen=True)
class StepResult:
    """What happened when a step ran."""

    exit_code: int | None
    duration: float
    timed_out: bool
    stdout: str
    stderr: str
    output_tail: str
    stopped_reason: str | None = None

    @property
    def succeeded(self) -> bool:
        """The process exited 0 within its time limit and was not stopped."""
        return self.exit_code == 0 and not self.timed_out and self.stopped_reason is None


@runtime_checkable
class WorkerRuntime(Protocol):
    """Runs one step to completion, within its time limit, and cleans up after itself.

    It also answers, without running anything, what its agents see (:attr:`view`) and what it
    may leave behind when the process that ran a step dies (:meth:`sweep_leftovers`).
    """

    name: str
    view: AgentView
    leftover_scope: str | None
    """Where leftovers of this runtime live (an engine address); runtimes with the same scope
    sweep the same things. None: it leaves nothing behind."""

    def sweep_leftovers(self, alive: OwnerAlive) -> list[str]:
        """Remove what dead steps of this project left (their owner is not ``alive``); return
        their ids. Raises RuntimeUnavailableError when the runtime cannot be reached."""

    def close(self) -> None:
        """Release what the runtime kept between steps; it can still run steps afterwards."""

    def preflight(self, argv0: str) -> None:
        """Raise RuntimeUnavailableError/AgentNotInstalledError if steps cannot run at all."""

    def run(
        self,
        request: StepRequest,
        on_line: LineSink | None = None,
        should_stop: StopCheck | None = None,
    ) -> StepResult:
        """Run the step; never raises for the step's own failure (that is in the result)."""

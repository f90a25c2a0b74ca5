"""The WorkerRuntime protocol: how one step (one agent invocation) is run.

A runtime takes a :class:`StepRequest` (argv, env, workspace, output folder, time limit) and
returns a :class:`StepResult`. It owns time limits and cleanup: the flows never put
``timeout_seconds`` on anything (a flow-level timeout disables task interruption in Prefect 3).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from loguru import logger

#: How many lines of combined output a result keeps as its tail.
TAIL_LINES = 40
#: How many characters of stdout a result keeps for the agent adapter to parse.
MAX_CAPTURE_CHARS = 2_000_000

LineSink = Callable[[str, str], None]
"""Called with (stream, line) for every output line, stream being "stdout" or "stderr"."""

StopCheck = Callable[[], str | None]
"""Polled while a step runs; a non-empty string asks the runtime to stop the step (the reason)."""


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
    """Runs one step to completion, within its time limit, and cleans up after itself."""

    name: str

    def preflight(self, argv0: str) -> None:
        """Raise RuntimeUnavailableError/AgentNotInstalledError if steps cannot run at all."""

    def run(
        self,
        request: StepRequest,
        on_line: LineSink | None = None,
        should_stop: StopCheck | None = None,
    ) -> StepResult:
        """Run the step; never raises for the step's own failure (that is in the result)."""


class OutputCollector:
    """Collects a step's output: capped full text per stream plus a shared tail of lines.

    Thread-safe: the runtimes feed it from one reader thread per stream.
    """

    def __init__(self, on_line: LineSink | None = None, tail_lines: int = TAIL_LINES) -> None:
        self._on_line = on_line
        self._lock = threading.Lock()
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self._chunks: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._sizes: dict[str, int] = {"stdout": 0, "stderr": 0}

    def line(self, stream: str, text: str) -> None:
        """Record one line (without its newline) from ``stream``."""
        with self._lock:
            self._tail.append(text)
            if self._sizes[stream] < MAX_CAPTURE_CHARS:
                self._chunks[stream].append(text)
                self._sizes[stream] += len(text) + 1
            if self._on_line is not None:
                self._on_line(stream, text)

    def raw_line(self, stream: str, raw: bytes) -> None:
        """Record one undecoded line (UTF-8, invalid bytes replaced, a trailing CR dropped)."""
        self.line(stream, raw.decode("utf-8", errors="replace").removesuffix("\r"))

    def text(self, stream: str) -> str:
        """The captured text of one stream (capped at MAX_CAPTURE_CHARS)."""
        with self._lock:
            return "\n".join(self._chunks[stream])

    def tail(self) -> str:
        """The last lines of both streams, interleaved as they arrived."""
        with self._lock:
            return "\n".join(self._tail)


def guarded_sink(on_line: LineSink, step: str) -> LineSink:
    """Wrap a sink so that its first exception is logged and it is dropped, not the output."""
    broken = False

    def sink(stream: str, line: str) -> None:
        nonlocal broken
        if broken:
            return
        try:
            on_line(stream, line)
        except Exception:
            broken = True
            logger.opt(exception=True).warning(
                "on_line failed for step {}; its output is still captured", step
            )

    return sink


#: A line longer than this many bytes is passed on in pieces of this size.
MAX_LINE_BYTES = 64 * 1024


class LineSplitter:
    """Turns arbitrary byte chunks of one stream into lines (without their newline)."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._pending = b""
        self._max = max_line

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete lines ``chunk`` finishes; overlong lines come out in pieces."""
        *lines, rest = (self._pending + chunk).split(b"\n")
        while len(rest) >= self._max:
            lines.append(rest[: self._max])
            rest = rest[self._max :]
        self._pending = rest
        return lines

    def flush(self) -> bytes:
        """What is left after the stream ended (an unterminated last line), or b""."""
        rest, self._pending = self._pending, b""
        return rest

"""The native runtime: runs a step as a local process in its own process group.

The step gets exactly the environment the caller built (``os.environ`` is not inherited), its
workspace as working directory, and a new session, so the whole tree of processes it starts can
be signalled at once. Time limits and ``should_stop`` end the step with SIGTERM to the group,
then SIGKILL after ``kill_grace`` seconds; whatever is left of the group when the main process
has exited is SIGKILLed, so no orphan survives the step.

``StepRequest.read_only_workspace`` cannot be enforced natively: the step runs as the current
user with that user's file access. The Docker runtime enforces it with a read-only mount.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from loguru import logger

from orchestra.config.runtimes import ProcessConfig
from orchestra.errors import AgentError, AgentNotInstalledError
from orchestra.runtime.base import (
    LineSink,
    OwnerAlive,
    RuntimeContext,
    StepRequest,
    StepResult,
    StopCheck,
)
from orchestra.runtime.output import LineSplitter, OutputCollector, guarded_sink
from orchestra.runtime.view import HostView

#: What a person must know about a process worker (docs/security.md, "The process runtime").
TRUST_NOTE = (
    "runtime process is NOT a sandbox: the agent runs as you, with your files, network and git "
    "objects. Trusted agents only (docs/security.md); use runtime: {kind: docker} for anything else"
)

_ByteSink = Callable[[str, bytes], None]
"""Called with (stream, raw line) by a reader thread."""

#: How long to wait for the output readers once the process group is gone.
_READER_JOIN_SECONDS = 2.0
#: How often a reader checks whether it has been asked to give up.
_READER_POLL_MS = 100


class ProcessRuntime:
    """Runs steps as local processes; see the module docstring for the guarantees.

    ``kill_grace`` is the time between SIGTERM and SIGKILL when a step is stopped;
    ``poll_interval`` is how often the time limit and ``should_stop`` are checked.
    """

    name = "process"
    #: A native step leaves nothing behind that outlives it (its group is killed).
    leftover_scope: str | None = None

    def __init__(self, *, kill_grace: float = 5.0, poll_interval: float = 0.1) -> None:
        self.kill_grace = kill_grace
        self.poll_interval = poll_interval
        self.view = view(ProcessConfig())

    def sweep_leftovers(self, alive: OwnerAlive) -> list[str]:
        """Nothing to sweep: no process of a step outlives it."""
        del alive
        return []

    def close(self) -> None:
        """Nothing is kept between steps."""

    def preflight(self, argv0: str) -> None:
        """Raise AgentNotInstalledError unless ``argv0`` names an executable.

        A bare name is looked up on this process's PATH; a path must exist and be executable.
        """
        if "/" not in argv0:
            if shutil.which(argv0) is not None:
                return
            where = "was not found on PATH"
        else:
            path = Path(argv0)
            if path.is_file() and os.access(path, os.X_OK):
                return
            where = "is not an executable file" if path.exists() else "does not exist"
        msg = (
            f"agent executable {argv0!r} {where}: install it, put it on PATH, "
            "or fix the command in the worker profile"
        )
        raise AgentNotInstalledError(msg)

    def run(
        self,
        request: StepRequest,
        on_line: LineSink | None = None,
        should_stop: StopCheck | None = None,
    ) -> StepResult:
        """Run the step to completion, time limit or stop; never raises for its own failure.

        Raises AgentNotInstalledError when ``argv[0]`` cannot be executed. If waiting is
        interrupted (KeyboardInterrupt, an exception from ``should_stop``), the process group
        is SIGKILLed before the exception propagates.
        """
        argv = list(request.argv)
        if not argv:
            msg = f"step {request.name!r} has an empty argv: the agent adapter built no command"
            raise AgentError(msg)
        request.output_dir.mkdir(parents=True, exist_ok=True)
        collector = OutputCollector(guarded_sink(on_line, request.name) if on_line else None)
        emit = collector.raw_line

        started = time.monotonic()
        proc = _start(request, argv)
        give_up = threading.Event()
        readers: list[threading.Thread] = []
        timed_out, stopped_reason, finished = False, None, False
        try:
            for pipe, stream in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
                readers.append(_start_reader(pipe, stream, emit, give_up, request.name))
            timed_out, stopped_reason = self._wait(proc, started + request.timeout, should_stop)
            finished = True
        finally:
            if not finished:
                _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
            # The main process is gone; its descendants go with it.
            _signal_group(proc.pid, signal.SIGKILL)
            duration = time.monotonic() - started
            _finish_readers(proc, readers, give_up)
        return StepResult(
            exit_code=proc.returncode,
            duration=duration,
            timed_out=timed_out,
            stdout=collector.text("stdout"),
            stderr=collector.text("stderr"),
            output_tail=collector.tail(),
            stopped_reason=stopped_reason,
        )

    def _wait(
        self, proc: subprocess.Popen[bytes], deadline: float, should_stop: StopCheck | None
    ) -> tuple[bool, str | None]:
        """Wait for the process; stop it on the deadline or when asked. (timed_out, reason)."""
        with _exit_waiter(proc) as exited:
            while True:
                remaining = deadline - time.monotonic()
                if exited(max(0.0, min(self.poll_interval, remaining))):
                    return False, None
                if time.monotonic() >= deadline:
                    self._stop(proc)
                    return True, None
                if should_stop is not None and (reason := should_stop()):
                    self._stop(proc)
                    return False, reason

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM the process group, then SIGKILL it if the main process outlives the grace."""
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=self.kill_grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def _exit_waiter(proc: subprocess.Popen[bytes]) -> Iterator[Callable[[float], bool]]:
    """Yields a function that waits up to N seconds for ``proc`` to exit and says whether it did.

    On Linux a pidfd wakes us the moment the process exits; Popen.wait(timeout) polls with
    sleeps that grow to 50 ms, which adds ~20 ms to every short step.
    """
    try:
        pidfd: int | None = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None

    def wait(seconds: float) -> bool:
        if pidfd is not None:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            poller.poll(seconds * 1000)
            return proc.poll() is not None
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    try:
        yield wait
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _start(request: StepRequest, argv: list[str]) -> subprocess.Popen[bytes]:
    """Start the step in a new session; translate an unusable executable."""
    stdin = request.stdin_path.open("rb") if request.stdin_path is not None else None
    try:
        return subprocess.Popen(
            argv,
            cwd=request.workspace,
            env=dict(request.env),
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError) as exc:
        if exc.filename != argv[0]:
            raise  # the workspace, not the executable
        msg = (
            f"step {request.name!r} cannot execute {argv[0]!r} ({exc.strerror}): install it, "
            "put it on the step's PATH, or fix the command in the worker profile"
        )
        raise AgentNotInstalledError(msg) from exc
    finally:
        if stdin is not None:
            stdin.close()  # the child has its own copy


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to a process group that may already be gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _start_reader(
    pipe: IO[bytes] | None, stream: str, emit: _ByteSink, give_up: threading.Event, step: str
) -> threading.Thread:
    """Start a thread that reads ``pipe`` in a copy of the caller's context (Prefect logs)."""
    assert pipe is not None  # Popen was given PIPE
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run,
        args=(_read_lines, pipe.fileno(), stream, emit, give_up),
        name=f"orchestra-{step}-{stream}",
        daemon=True,
    )
    thread.start()
    return thread


def _read_lines(fd: int, stream: str, emit: _ByteSink, give_up: threading.Event) -> None:
    """Read ``fd`` until EOF (or ``give_up``), passing each line without its newline."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    splitter = LineSplitter()
    while not give_up.is_set():
        if not poller.poll(_READER_POLL_MS):
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        for line in splitter.feed(chunk):
            emit(stream, line)
    if rest := splitter.flush():
        emit(stream, rest)


def _finish_readers(
    proc: subprocess.Popen[bytes], readers: list[threading.Thread], give_up: threading.Event
) -> None:
    """Join the readers (bounded); close the pipes of those that finished."""
    deadline = time.monotonic() + _READER_JOIN_SECONDS
    for reader in readers:
        reader.join(timeout=max(0.0, deadline - time.monotonic()))
    if any(reader.is_alive() for reader in readers):
        # A descendant that left the process group still holds the pipes open.
        logger.warning("process {}: a descendant outside its group holds the output open", proc.pid)
        give_up.set()
        for reader in readers:
            reader.join(timeout=1.0)
    for index, pipe in enumerate((proc.stdout, proc.stderr)):
        if pipe is not None and not (index < len(readers) and readers[index].is_alive()):
            pipe.close()  # a pipe still being read stays open: its fd must not be reused


def view(settings: ProcessConfig) -> HostView:
    """What a native step sees: the host itself."""
    del settings
    return HostView("process", TRUST_NOTE)


def build(settings: ProcessConfig, context: RuntimeContext) -> ProcessRuntime:
    """The runtime for ``settings`` (the registry in :mod:`orchestra.runtime` calls this)."""
    del settings
    return ProcessRuntime(kill_grace=context.kill_grace)

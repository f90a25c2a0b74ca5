"""The Docker runtime's attach socket: a step's stdin in, its stdout and stderr out, by line.

Threads started here carry the caller's context (Prefect run logs need it). See
:mod:`orchestra.runtime.docker` for why the runtime attaches before it starts a container.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
from collections.abc import Callable
from typing import Any

from docker.utils.socket import STDERR, STDOUT, SocketError, frames_iter
from loguru import logger

from orchestra.runtime.output import LineSplitter


def spawn(name: str, target: Callable[..., None], *args: Any) -> threading.Thread:
    """Start a daemon thread in a copy of the caller's context (Prefect run logs need it)."""
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(target, *args), name=name[:60], daemon=True)
    thread.start()
    return thread


def attach(container: Any, *, stdin: bool) -> Any:
    """Attach to the created container's output (and stdin) before it starts: nothing is lost."""
    params = {"stdout": 1, "stderr": 1, "stream": 1}
    if stdin:
        params["stdin"] = 1
    sock = container.attach_socket(params=params)
    candidates: list[Any] = [sock, getattr(sock, "_sock", None)]
    for candidate in candidates:
        if hasattr(candidate, "settimeout"):
            candidate.settimeout(None)  # a step may be silent for longer than the API timeout
    return sock


def read_output(sock: Any, emit: Callable[[str, bytes], None]) -> None:
    """Demultiplex the attach stream, passing each line without its newline, until it ends."""
    names = {STDOUT: "stdout", STDERR: "stderr"}
    splitters = {"stdout": LineSplitter(), "stderr": LineSplitter()}
    try:
        for stream_id, chunk in frames_iter(sock, False):
            stream = names.get(stream_id, "stdout")
            for line in splitters[stream].feed(chunk):
                emit(stream, line)
    except (OSError, ValueError, SocketError) as exc:  # closed after a stop or an engine error
        logger.debug("output stream of a step ended: {}", exc)
    finally:
        for stream, splitter in splitters.items():
            if rest := splitter.flush():
                emit(stream, rest)


def feed_stdin(sock: Any, data: bytes) -> None:
    """Write ``data`` to the attach socket, then half-close it: end-of-file for the agent."""
    raw = getattr(sock, "_sock", sock)
    try:
        raw.sendall(data)
        raw.shutdown(socket.SHUT_WR)
    except OSError as exc:  # the step exited without reading all of its stdin
        logger.debug("stdin of a step not fully delivered: {}", exc)


def close(sock: Any) -> None:
    """Shut the attach socket down (wakes a blocked reader) and close it."""
    raw = getattr(sock, "_sock", sock)
    with contextlib.suppress(OSError):
        raw.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()

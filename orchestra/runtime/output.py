"""A step's output as runtimes collect it: split into lines, passed to the caller's sink (which may not break the step), tail and capture kept bounded."""

from __future__ import annotations

import threading
from collections import deque

from loguru import logger

from orchestra.runtime.base import MAX_CAPTURE_CHARS, TAIL_LINES, LineSink


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
        # Past half the cap, the latest lines are kept instead: a CLI's result comes last
        # (Claude Code's `result` event, codex's `turn.completed`), after any amount of output.
        self._ends: dict[str, deque[str]] = {"stdout": deque(), "stderr": deque()}
        self._end_sizes: dict[str, int] = {"stdout": 0, "stderr": 0}
        self._dropped: dict[str, int] = {"stdout": 0, "stderr": 0}

    def line(self, stream: str, text: str) -> None:
        """Record one line (without its newline) from ``stream``."""
        with self._lock:
            self._tail.append(text)
            if self._sizes[stream] < MAX_CAPTURE_CHARS // 2:
                self._chunks[stream].append(text)
                self._sizes[stream] += len(text) + 1
            else:
                self._keep_end(stream, text)
            if self._on_line is not None:
                self._on_line(stream, text)

    def raw_line(self, stream: str, raw: bytes) -> None:
        """Record one undecoded line (UTF-8, invalid bytes replaced, a trailing CR dropped)."""
        self.line(stream, raw.decode("utf-8", errors="replace").removesuffix("\r"))

    def _keep_end(self, stream: str, text: str) -> None:
        end = self._ends[stream]
        end.append(text)
        self._end_sizes[stream] += len(text) + 1
        while self._end_sizes[stream] > MAX_CAPTURE_CHARS // 2 and len(end) > 1:
            self._end_sizes[stream] -= len(end.popleft()) + 1
            self._dropped[stream] += 1

    def text(self, stream: str) -> str:
        """The captured text of one stream: its start and its end, about MAX_CAPTURE_CHARS in
        all, with a line saying how many lines between them were dropped."""
        with self._lock:
            dropped = self._dropped[stream]
            gap = [f"[orchestra: {dropped} lines of output dropped here]"] if dropped else []
            return "\n".join([*self._chunks[stream], *gap, *self._ends[stream]])

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

"""A step's agent output in the logs: every line into ``output.log`` in the step's run folder,
only the first and last lines into the logs (and so into Prefect's database).

An agent can print megabytes per step; Prefect stores every log line it is sent. So the logs get
``logging.agent_head_lines`` lines from the start, then (when the step ends) a line saying how many
were left out and where they are, then the last ``logging.agent_tail_lines``. With ``ui.debug``
every line goes to the logs as well.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from orchestra.secrets import redact

OUTPUT_FILE = "output.log"


class StepOutputLog:
    """Callable ``on_line(stream, line)`` for a runtime; close it (or use ``with``) at the end."""

    def __init__(
        self, logger: Any, output_dir: Path, *, head: int, tail: int, every_line: bool = False
    ) -> None:
        self._log = logger
        self.path = output_dir / OUTPUT_FILE
        self._file: TextIO | None = self.path.open("a", encoding="utf-8", errors="replace")
        self._head, self._every = head, every_line
        self._tail: deque[tuple[str, str]] = deque(maxlen=tail)
        self.lines = 0
        self.left_out = 0

    def __call__(self, stream: str, line: str) -> None:
        self.lines += 1
        if self._file is not None:
            self._file.write(f"[{stream}] {redact(line)}\n")
        if self._every or self.lines <= self._head:
            self._log.info("[{}] {}", stream, line)
            return
        if len(self._tail) == self._tail.maxlen:  # full (or keeping no tail): one drops out
            self.left_out += 1
        self._tail.append((stream, line))

    def close(self) -> None:
        """Flush the tail into the logs (after a line naming what was left out)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.left_out:
            self._log.info(
                "… {} line(s) of output left out of the logs; all {} are in {}",
                self.left_out,
                self.lines,
                self.path,
            )
        while self._tail:
            self._log.info("[{}] {}", *self._tail.popleft())

    def __enter__(self) -> StepOutputLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

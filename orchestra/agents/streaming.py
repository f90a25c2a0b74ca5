"""Usage read from an agent's output while it runs, for CLIs that stream it.

Claude Code's ``--output-format stream-json`` prints one ``assistant`` event per content block of
each model answer, every one carrying that answer's ``usage`` (the API message's id repeats). A
:class:`UsageMeter` fed those lines adds the answers up once each, so the spending governor can
stop a step in the middle when its next request would cross a cap (engine/livecap.py). CLIs that
report usage only at their end have no meter: their caps hold at step boundaries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar


@dataclass(frozen=True)
class LiveUsage:
    """What a running step has used so far, and its latest model request alone."""

    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    last_input: int = 0
    last_output: int = 0

    @property
    def tokens(self) -> int:
        """Input plus output tokens so far."""
        return self.input_tokens + self.output_tokens


class UsageMeter(Protocol):
    """Reads an agent's stdout lines; :attr:`usage` is the running total."""

    usage: LiveUsage

    def feed(self, line: str) -> bool:
        """Take one stdout line; True when the usage changed."""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _event(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class ClaudeStreamMeter:
    """Claude Code's stream-json: the usage of every distinct model answer, added up."""

    def __init__(self) -> None:
        self.usage = LiveUsage()
        self._answers: dict[str, tuple[int, int]] = {}
        self._last = ""
        self.text = ""
        """The latest answer text (the final answer of a step stopped before its result)."""

    def feed(self, line: str) -> bool:
        """Take one stdout line; True when the usage changed."""
        event = _event(line)
        if event is None or event.get("type") != "assistant":
            return False
        message = event.get("message")
        if not isinstance(message, dict) or message.get("model") == "<synthetic>":
            return False  # Claude Code's own error text, no request behind it
        said = [
            str(block.get("text") or "")
            for block in message.get("content") or []
            if isinstance(block, dict) and block.get("type") == "text"
        ]
        if any(said):
            self.text = "\n".join(s for s in said if s)
        usage = message.get("usage")
        if not isinstance(usage, dict):
            return False
        key = str(message.get("id") or f"#{len(self._answers)}")
        sent = (
            _int(usage.get("input_tokens"))
            + _int(usage.get("cache_creation_input_tokens"))
            + _int(usage.get("cache_read_input_tokens"))
        )
        # The same answer repeats per content block; its output count may grow between them.
        before = self._answers.get(key, (0, 0))
        now = (max(before[0], sent), max(before[1], _int(usage.get("output_tokens"))))
        if now == before:
            return False
        self._answers[key] = now
        self._last = key
        self.usage = LiveUsage(
            sum(a for a, _ in self._answers.values()),
            sum(b for _, b in self._answers.values()),
            len(self._answers),
            *self._answers[self._last],
        )
        return True


M = TypeVar("M", bound=UsageMeter)


def read_stream(meter: M, stdout: str) -> M:
    """``meter`` fed every line of ``stdout`` (a step's whole output, after the fact)."""
    for line in stdout.splitlines():
        meter.feed(line)
    return meter

"""Usage read from an agent's output while it runs, for CLIs that stream it.

Claude Code's ``--output-format stream-json`` prints one ``assistant`` event per content block of
each model answer, every one carrying that answer's ``usage`` (the API message's id repeats). A
:class:`UsageMeter` fed those lines adds the answers up once each, so the spending governor can
stop a step in the middle when its next request would cross a cap (engine/livecap.py). CLIs that
report usage only at their end have no meter: their caps hold at step boundaries.

The usage Claude Code repeats is the one the API sent when the answer started: its input tokens
are exact, its output tokens are what was written by then (1, as a rule). So an answer's output
is counted as at least its length at :data:`CHARS_PER_TOKEN` (its text, its tool calls' input);
a step that finishes gets the exact numbers from its ``result`` line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

#: Characters of an answer counted as one output token while the stream gives no count (English
#: text and code run at about 3.5 to 4.5 characters a token).
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class LiveUsage:
    """What a running step has used so far, and its latest model request alone."""

    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    last_input: int = 0
    last_output: int = 0
    growth: int = 0
    """How much the latest request's input grew over the one before (the conversation sent
    again with an answer and a tool's result added): the next one likely grows as much."""

    @property
    def next_request(self) -> tuple[int, int]:
        """The likely (input, output) tokens of the next request: the latest one's input, grown
        by its own answer at least, or as much as it grew last time."""
        return self.last_input + max(self.growth, self.last_output), self.last_output

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


def _length(block: dict[str, Any]) -> int:
    """Characters the model wrote for one content block (text, thinking, a tool call)."""
    if block.get("type") == "tool_use":
        return len(str(block.get("name") or "")) + len(json.dumps(block.get("input") or {}))
    return len(str(block.get("text") or block.get("thinking") or ""))


class ClaudeStreamMeter:
    """Claude Code's stream-json: the usage of every distinct model answer, added up."""

    def __init__(self) -> None:
        self.usage = LiveUsage()
        self._answers: dict[str, tuple[int, int]] = {}
        self._chars: dict[str, int] = {}
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
        blocks = [b for b in message.get("content") or [] if isinstance(b, dict)]
        said = [str(b.get("text") or "") for b in blocks if b.get("type") == "text"]
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
        # The same answer repeats per content block: each brings its own length.
        self._chars[key] = self._chars.get(key, 0) + sum(_length(b) for b in blocks)
        written = -(-self._chars[key] // CHARS_PER_TOKEN)
        before = self._answers.get(key, (0, 0))
        received = max(before[1], _int(usage.get("output_tokens")), written)
        now = (max(before[0], sent), received)
        if now == before:
            return False
        self._answers[key] = now
        inputs = [a for a, _ in self._answers.values()]
        self.usage = LiveUsage(
            sum(inputs),
            sum(b for _, b in self._answers.values()),
            len(self._answers),
            *now,
            max(0, inputs[-1] - inputs[-2]) if len(inputs) > 1 else 0,
        )
        return True


M = TypeVar("M", bound=UsageMeter)


def read_stream(meter: M, stdout: str) -> M:
    """``meter`` fed every line of ``stdout`` (a step's whole output, after the fact)."""
    for line in stdout.splitlines():
        meter.feed(line)
    return meter

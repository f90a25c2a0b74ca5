"""Usage read from Claude Code's stream-json while it runs, and the outcome of a run stopped
before its result line (lines in the shape of the real CLI's output, tests/fixtures/agent-samples)."""

from __future__ import annotations

import json
from typing import Any

from orchestra.agents import parse_outcome
from orchestra.agents.streaming import ClaudeStreamMeter, LiveUsage, read_stream


def answer(msg_id: str, block: dict[str, Any], sent: int, received: int, **more: int) -> str:
    usage = {"input_tokens": sent, "output_tokens": received, **more}
    message = {"id": msg_id, "model": "claude-x", "content": [block], "usage": usage}
    return json.dumps({"type": "assistant", "message": message, "session_id": "s"})


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


TOOL = {"type": "tool_use", "id": "t", "name": "Bash", "input": {}}
SYNTHETIC = json.dumps(
    {
        "type": "assistant",
        "message": {
            "id": "x",
            "model": "<synthetic>",
            "content": [text("API Error: Unable to connect")],
            "usage": {"input_tokens": 0, "output_tokens": 0},
        },
    }
)


class TestClaudeStreamMeter:
    def test_each_answer_counts_once_however_many_blocks_repeat_it(self) -> None:
        meter = ClaudeStreamMeter()
        changed = [
            meter.feed(line)
            for line in (
                '{"type":"system","subtype":"init"}',
                answer("m1", text("Reading."), 1000, 1, cache_read_input_tokens=500),
                answer("m1", TOOL, 1000, 30, cache_read_input_tokens=500),
                '{"type":"user","message":{"content":[]}}',
                answer("m2", TOOL, 2000, 40),
                "not json",
            )
        ]
        assert changed == [False, True, True, False, True, False]
        assert meter.usage == LiveUsage(3500, 70, 2, 2000, 40, growth=500)
        assert meter.usage.next_request == (2500, 40)  # grown as much again
        assert meter.text == "Reading."

    def test_output_is_at_least_the_answers_length(self) -> None:
        """The stream repeats the answer's usage from its start (output 1): its length counts,
        at 4 characters a token, over every block of the answer."""
        meter = ClaudeStreamMeter()
        meter.feed(answer("m1", text("x" * 400), 1000, 1))
        assert meter.usage.output_tokens == 100
        call = {"type": "tool_use", "id": "t", "name": "Write", "input": {"content": "y" * 380}}
        meter.feed(answer("m1", call, 1000, 1))
        assert meter.usage.output_tokens == 100 + -(-(5 + len('{"content": ""}') + 380) // 4)

    def test_claude_codes_own_error_answers_are_not_requests(self) -> None:
        meter = ClaudeStreamMeter()
        assert meter.feed(SYNTHETIC) is False
        assert meter.usage.requests == 0


class TestStoppedBeforeTheResult:
    def test_the_usage_and_last_words_of_a_stopped_run(self) -> None:
        """Killed (exit -15) after two answers: the outcome has their tokens, no cost, and the
        last text as its answer."""
        stdout = "\n".join(
            [
                answer("m1", text("Reading."), 1000, 10),
                answer("m2", text("Running the tests."), 1500, 20),
                answer("m2", TOOL, 1500, 20),
            ]
        )
        outcome = parse_outcome("claude", exit_code=-15, stdout=stdout, stderr="", timed_out=False)
        assert not outcome.ok
        assert (outcome.input_tokens, outcome.output_tokens, outcome.cost_usd) == (2500, 30, None)
        assert outcome.answer == "Running the tests."

    def test_no_answer_streamed_reads_as_before(self) -> None:
        outcome = parse_outcome("claude", exit_code=1, stdout=SYNTHETIC, stderr="", timed_out=False)
        assert outcome.failure == "unreachable" and outcome.input_tokens is None

    def test_read_stream_feeds_every_line(self) -> None:
        meter = read_stream(ClaudeStreamMeter(), answer("m1", TOOL, 7, 3))
        assert meter.usage.tokens == 10

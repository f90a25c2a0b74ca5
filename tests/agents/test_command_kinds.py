"""The command adapter reads a failure's kind from its last line, as every adapter does."""

from __future__ import annotations

from orchestra.agents.command import parse_command


class TestCommandFailureKind:
    def test_refused_key_is_auth(self) -> None:
        outcome = parse_command(
            1, "", "working...\nError: 401 Unauthorized: invalid x-api-key\n", None
        )
        assert outcome.failure == "auth"

    def test_plain_failure_is_error(self) -> None:
        outcome = parse_command(1, "", "the tests still fail\n", None)
        assert outcome.failure == "error"
        assert outcome.message == "command: failed (exit code 1: the tests still fail)"

    def test_silent_failure_is_error(self) -> None:
        assert parse_command(3, "", "", None).failure == "error"

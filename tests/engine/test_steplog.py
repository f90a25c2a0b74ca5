"""Agent output in the logs is capped per step: head and tail; all of it in output.log."""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from orchestra.engine.steplog import StepOutputLog
from orchestra.testing import capture_logs


def _messages(records: list[dict[str, object]]) -> list[str]:
    return [str(r["message"]) for r in records]


class TestStepOutputLog:
    def test_head_and_tail_with_the_count_left_out(self, tmp_path: Path) -> None:
        """1,000 lines, head 3, tail 2: the logs get 3 + a note + 2; output.log gets all."""
        with capture_logs() as records, StepOutputLog(logger, tmp_path, head=3, tail=2) as out:
            for n in range(1000):
                out("stdout", f"line {n}")
        messages = _messages(records)
        assert messages[:3] == ["[stdout] line 0", "[stdout] line 1", "[stdout] line 2"]
        assert "995 line(s) of output left out" in messages[3]
        assert str(tmp_path / "output.log") in messages[3]
        assert messages[4:] == ["[stdout] line 998", "[stdout] line 999"]
        lines = (tmp_path / "output.log").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 1000
        assert lines[500] == "[stdout] line 500"

    def test_short_output_is_all_logged(self, tmp_path: Path) -> None:
        with capture_logs() as records, StepOutputLog(logger, tmp_path, head=3, tail=3) as out:
            for n in range(5):
                out("stderr", f"l{n}")
        assert _messages(records) == [f"[stderr] l{n}" for n in range(5)]

    def test_debug_logs_every_line(self, tmp_path: Path) -> None:
        """ui.debug switches on every line."""
        with (
            capture_logs() as records,
            StepOutputLog(logger, tmp_path, head=1, tail=1, every_line=True) as out,
        ):
            for n in range(50):
                out("stdout", f"l{n}")
        assert len(records) == 50

    def test_no_tail(self, tmp_path: Path) -> None:
        with capture_logs() as records, StepOutputLog(logger, tmp_path, head=1, tail=0) as out:
            for n in range(4):
                out("stdout", f"l{n}")
        messages = _messages(records)
        assert messages[0] == "[stdout] l0"
        assert "3 line(s) of output left out" in messages[1]
        assert len(messages) == 2

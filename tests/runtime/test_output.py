"""Shared pieces of the runtimes: splitting output into lines, guarding the line sink."""

from __future__ import annotations

from orchestra.runtime.output import LineSplitter, guarded_sink


class TestLineSplitter:
    def test_chunks_become_lines_across_boundaries(self) -> None:
        """Lines split across chunks come out whole; the unterminated tail comes from flush."""
        splitter = LineSplitter()
        assert splitter.feed(b"one\ntw") == [b"one"]
        assert splitter.feed(b"o\nthree") == [b"two"]
        assert splitter.flush() == b"three"
        assert splitter.flush() == b""

    def test_overlong_line_comes_out_in_pieces(self) -> None:
        """A line longer than the cap is passed on in pieces of the cap's size."""
        splitter = LineSplitter(max_line=4)
        assert splitter.feed(b"abcdefghij") == [b"abcd", b"efgh"]
        assert splitter.feed(b"\n") == [b"ij"]


class TestGuardedSink:
    def test_a_failing_sink_is_dropped_after_its_first_error(self) -> None:
        """The first exception disables the sink; later lines do not call it again."""
        calls: list[str] = []

        def sink(stream: str, line: str) -> None:
            calls.append(line)
            raise RuntimeError("broken")

        guarded = guarded_sink(sink, "step")
        guarded("stdout", "a")
        guarded("stdout", "b")
        assert calls == ["a"]

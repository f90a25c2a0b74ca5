"""ProcessRuntime: real processes, real signals, no mocks."""

from __future__ import annotations

import contextvars
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

import orchestra.runtime
from orchestra.errors import AgentNotInstalledError, OrchestraError
from orchestra.runtime import (
    TAIL_LINES,
    LineSink,
    ProcessRuntime,
    StepRequest,
    StepResult,
    StopCheck,
    WorkerRuntime,
)

PATH_ONLY = {"PATH": os.environ.get("PATH", os.defpath)}


def request(
    tmp_path: Path,
    *argv: str,
    timeout: float = 10.0,
    env: dict[str, str] | None = None,
    stdin_path: Path | None = None,
) -> StepRequest:
    """A step in ``tmp_path/ws`` with PATH as its only variable unless ``env`` is given."""
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    return StepRequest(
        argv=argv,
        workspace=workspace,
        output_dir=tmp_path / "out",
        timeout=timeout,
        env=PATH_ONLY if env is None else env,
        stdin_path=stdin_path,
    )


def sh(tmp_path: Path, script: str, timeout: float = 10.0) -> StepRequest:
    return request(tmp_path, "sh", "-c", script, timeout=timeout)


def run(
    req: StepRequest, on_line: LineSink | None = None, should_stop: StopCheck | None = None
) -> StepResult:
    runtime = ProcessRuntime(kill_grace=0.5, poll_interval=0.05)
    return runtime.run(req, on_line=on_line, should_stop=should_stop)


def is_dead(pid: int) -> bool:
    """Gone, or a zombie waiting for a reaper that is not ours."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_dead(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if is_dead(pid):
            return True
        time.sleep(0.02)
    return is_dead(pid)


def read_pid(path: Path) -> int:
    return int(path.read_text().strip())


def has_pid(path: Path) -> bool:
    """The step has written its grandchild's pid (not just created the file)."""
    return path.exists() and path.read_text().strip() != ""


class TestProtocol:
    def test_is_a_worker_runtime(self) -> None:
        """ProcessRuntime satisfies the WorkerRuntime protocol under the name "process"."""
        runtime = ProcessRuntime()
        assert isinstance(runtime, WorkerRuntime)
        assert runtime.name == "process"

    def test_exports(self) -> None:
        """orchestra.runtime exports exactly what __all__ lists, ProcessRuntime included."""
        assert "ProcessRuntime" in orchestra.runtime.__all__
        for name in orchestra.runtime.__all__:
            assert hasattr(orchestra.runtime, name)


class TestPreflight:
    def test_name_on_path_passes(self) -> None:
        """A bare name found on PATH passes."""
        ProcessRuntime().preflight("sh")

    def test_executable_path_passes(self) -> None:
        """An absolute path to an executable passes."""
        ProcessRuntime().preflight(str(shutil.which("sh")))

    def test_name_not_on_path_names_it_and_the_fix(self) -> None:
        """A bare name not on PATH raises AgentNotInstalledError naming it and the fix."""
        with pytest.raises(AgentNotInstalledError, match="no-such-agent-xyz") as info:
            ProcessRuntime().preflight("no-such-agent-xyz")
        assert "PATH" in str(info.value)
        assert "worker profile" in str(info.value)
        assert isinstance(info.value, OrchestraError)

    def test_missing_path_raises(self, tmp_path: Path) -> None:
        """A path that does not exist raises AgentNotInstalledError."""
        with pytest.raises(AgentNotInstalledError, match="does not exist"):
            ProcessRuntime().preflight(str(tmp_path / "agent"))

    def test_non_executable_path_raises(self, tmp_path: Path) -> None:
        """A path to a file without the execute bit raises AgentNotInstalledError."""
        agent = tmp_path / "agent"
        agent.write_text("#!/bin/sh\n")
        with pytest.raises(AgentNotInstalledError, match="not an executable"):
            ProcessRuntime().preflight(str(agent))


class TestRun:
    def test_exit_code_and_streams_are_captured_separately(self, tmp_path: Path) -> None:
        """The exit code is returned and stdout and stderr are captured apart."""
        result = run(sh(tmp_path, "echo out1; echo err1 >&2; echo out2; exit 3"))
        assert result.exit_code == 3
        assert result.stdout == "out1\nout2"
        assert result.stderr == "err1"
        assert not result.timed_out
        assert result.stopped_reason is None
        assert not result.succeeded
        assert result.duration > 0

    def test_a_long_output_keeps_its_start_and_its_end(self, tmp_path: Path) -> None:
        """Past the capture cap the latest lines are kept, with a line saying what was dropped
        in between: a CLI's result line comes last (Claude Code's stream-json)."""
        from orchestra.runtime.base import MAX_CAPTURE_CHARS

        lines = MAX_CAPTURE_CHARS // 1000 * 2  # twice the cap, in lines of 1,000 characters
        script = (
            f"python3 -c \"[print(f'{{i:08d}}' + 'x' * 991) for i in range({lines})]\"; echo RESULT"
        )
        result = run(sh(tmp_path, script))
        kept = result.stdout.splitlines()
        assert kept[0].startswith("00000000") and kept[-1] == "RESULT"
        assert len(result.stdout) <= MAX_CAPTURE_CHARS + 100
        gap = next(i for i, line in enumerate(kept) if line.startswith("[orchestra: "))
        dropped = int(kept[gap].split()[1])
        assert int(kept[gap + 1][:8]) - int(kept[gap - 1][:8]) == dropped + 1

    def test_success(self, tmp_path: Path) -> None:
        """A step that exits 0 in time succeeded and its output folder exists."""
        result = run(sh(tmp_path, "true"))
        assert result.succeeded
        assert (tmp_path / "out").is_dir()

    def test_lines_reach_on_line_in_order_with_their_stream(self, tmp_path: Path) -> None:
        """on_line gets every line, in order within each stream, tagged with its stream."""
        seen: list[tuple[str, str]] = []
        script = "for i in 1 2 3 4 5; do echo o$i; echo e$i >&2; done"
        run(sh(tmp_path, script), on_line=lambda stream, line: seen.append((stream, line)))
        assert [line for stream, line in seen if stream == "stdout"] == [
            f"o{i}" for i in range(1, 6)
        ]
        assert [line for stream, line in seen if stream == "stderr"] == [
            f"e{i}" for i in range(1, 6)
        ]

    def test_on_line_runs_in_the_callers_context(self, tmp_path: Path) -> None:
        """on_line sees the caller's context variables (how Prefect's run logger finds its run)."""
        var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="missing")
        var.set("caller")
        seen: list[str] = []
        run(sh(tmp_path, "echo a; echo b >&2"), on_line=lambda _s, _l: seen.append(var.get()))
        assert seen == ["caller", "caller"]

    def test_failing_on_line_does_not_lose_output(self, tmp_path: Path) -> None:
        """A sink that raises is dropped; the step runs on and its output is still captured."""

        def broken(_stream: str, _line: str) -> None:
            raise RuntimeError("sink down")

        result = run(sh(tmp_path, "seq 1 1000"), on_line=broken)
        assert result.succeeded
        assert result.stdout.splitlines()[-1] == "1000"

    def test_env_is_exactly_the_requested_one(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The child gets request.env and nothing from os.environ."""
        monkeypatch.setenv("ORCHESTRA_TEST_LEAK", "leaked")
        env_bin = str(shutil.which("env"))
        result = run(request(tmp_path, env_bin, env={"ONLY": "1"}))
        assert result.stdout == "ONLY=1"

    def test_stdin_file_is_fed(self, tmp_path: Path) -> None:
        """The stdin_path file is the step's standard input."""
        prompt = tmp_path / "prompt.txt"
        prompt.write_text("line one\nline two\n")
        result = run(request(tmp_path, "cat", stdin_path=prompt))
        assert result.stdout == "line one\nline two"

    def test_no_stdin_is_empty(self, tmp_path: Path) -> None:
        """Without stdin_path the step reads end-of-file at once instead of hanging."""
        result = run(request(tmp_path, "cat", timeout=5))
        assert result.succeeded
        assert result.stdout == ""

    def test_cwd_is_the_workspace(self, tmp_path: Path) -> None:
        """The step runs in its workspace."""
        result = run(sh(tmp_path, "pwd -P"))
        assert result.stdout == str((tmp_path / "ws").resolve())

    def test_output_tail_keeps_the_last_lines(self, tmp_path: Path) -> None:
        """output_tail holds the last TAIL_LINES lines."""
        result = run(sh(tmp_path, "seq 1 100"))
        assert result.output_tail == "\n".join(str(i) for i in range(101 - TAIL_LINES, 101))
        assert result.stdout.count("\n") == 99

    def test_non_utf8_output_is_replaced(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 become U+FFFD instead of crashing the reader."""
        result = run(sh(tmp_path, r"printf 'a\377b\n'; printf 'x\376\n' >&2"))
        assert result.stdout == "a\ufffdb"
        assert result.stderr == "x\ufffd"

    def test_last_line_without_newline_is_kept(self, tmp_path: Path) -> None:
        """A final line without a newline is still captured."""
        result = run(sh(tmp_path, "printf 'first\\nlast'"))
        assert result.stdout == "first\nlast"


class TestStopping:
    def test_timeout_kills_the_whole_process_group(self, tmp_path: Path) -> None:
        """A timed-out step's background grandchild is killed too: no orphan survives."""
        pidfile = tmp_path / "pid"
        req = sh(tmp_path, f"sleep 300 & echo $! > {pidfile}; wait", timeout=1.0)
        started = time.monotonic()
        result = run(req)
        assert time.monotonic() - started < 5
        assert result.timed_out
        assert not result.succeeded
        assert result.exit_code is not None
        assert result.exit_code < 0
        assert wait_dead(read_pid(pidfile))

    def test_sigterm_ignored_is_followed_by_sigkill(self, tmp_path: Path) -> None:
        """A step that ignores SIGTERM is SIGKILLed after the grace period."""
        req = sh(tmp_path, "trap '' TERM; while :; do sleep 0.05; done", timeout=1.0)
        result = run(req)
        assert result.timed_out
        assert result.exit_code == -9
        assert result.duration >= 1.0 + 0.5

    def test_background_grandchild_of_a_finished_step_is_killed(self, tmp_path: Path) -> None:
        """A step that exits 0 but leaves a grandchild (holding stdout) running: it is killed."""
        pidfile = tmp_path / "pid"
        started = time.monotonic()
        result = run(sh(tmp_path, f"sleep 300 & echo $! > {pidfile}; echo done"))
        assert time.monotonic() - started < 5
        assert result.succeeded
        assert result.stdout == "done"
        assert wait_dead(read_pid(pidfile))

    def test_descendant_that_left_the_group_does_not_block_the_result(self, tmp_path: Path) -> None:
        """A descendant in its own session holding stdout open delays the result only briefly."""
        pidfile = tmp_path / "pid"
        script = f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 30' & echo done"
        started = time.monotonic()
        try:
            result = run(sh(tmp_path, script))
            assert time.monotonic() - started < 6
            assert result.succeeded
            assert result.stdout == "done"
        finally:
            deadline = time.monotonic() + 2
            while not has_pid(pidfile) and time.monotonic() < deadline:
                time.sleep(0.02)
            if has_pid(pidfile):
                os.kill(read_pid(pidfile), signal.SIGKILL)

    def test_should_stop_stops_the_step(self, tmp_path: Path) -> None:
        """should_stop returning a reason stops the step and records the reason."""
        pidfile = tmp_path / "pid"
        req = sh(tmp_path, f"sleep 300 & echo $! > {pidfile}; wait")

        def budget() -> str | None:
            return "budget exhausted" if has_pid(pidfile) else None

        result = run(req, should_stop=budget)
        assert result.stopped_reason == "budget exhausted"
        assert not result.timed_out
        assert not result.succeeded
        assert wait_dead(read_pid(pidfile))

    def test_exception_while_waiting_still_kills_the_group(self, tmp_path: Path) -> None:
        """An exception raised while waiting propagates after the process group is killed."""
        pidfile = tmp_path / "pid"
        req = sh(tmp_path, f"sleep 300 & echo $! > {pidfile}; wait")

        def interrupt() -> str | None:
            if has_pid(pidfile):
                raise KeyboardInterrupt
            return None

        with pytest.raises(KeyboardInterrupt):
            run(req, should_stop=interrupt)
        assert wait_dead(read_pid(pidfile))


class TestUnusableExecutable:
    def test_missing_executable_raises_from_run(self, tmp_path: Path) -> None:
        """run() raises AgentNotInstalledError naming an executable that does not exist."""
        with pytest.raises(AgentNotInstalledError, match="no-such-agent-xyz"):
            run(request(tmp_path, "no-such-agent-xyz"))

    def test_non_executable_file_raises_from_run(self, tmp_path: Path) -> None:
        """run() raises AgentNotInstalledError for a file without the execute bit."""
        agent = tmp_path / "agent"
        agent.write_text("#!/bin/sh\n")
        with pytest.raises(AgentNotInstalledError, match="agent"):
            run(request(tmp_path, str(agent)))

    def test_missing_workspace_is_not_reported_as_missing_agent(self, tmp_path: Path) -> None:
        """A workspace that does not exist raises FileNotFoundError, not AgentNotInstalledError."""
        req = StepRequest(argv=["sh"], workspace=tmp_path / "gone", output_dir=tmp_path, timeout=5)
        with pytest.raises(FileNotFoundError) as info:
            run(req)
        assert not isinstance(info.value, AgentNotInstalledError)

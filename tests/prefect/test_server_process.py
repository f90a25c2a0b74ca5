"""Starting a Prefect server process, shared by ``orchestra server`` and the standalone server
of the tests and benches: a server that exits, or never answers, is named with its log's end;
one that never answers is stopped with its whole process group."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestra.errors import PrefectServerError
from orchestra.prefect.server import free_port, kill_group, wait_healthy


def _spawn(code: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


class TestWaitHealthy:
    def test_a_server_that_exits_is_named_with_its_log(self, tmp_path: Path) -> None:
        """It exited before answering: the error has its status and the end of its log."""
        log = tmp_path / "server.log"
        proc = _spawn("print('no database here', flush=True); raise SystemExit(3)", log)
        url = f"http://127.0.0.1:{free_port()}"
        with pytest.raises(PrefectServerError) as err:
            wait_healthy(proc, url, log, 30.0, what="the test server")
        assert "the test server exited with status 3" in str(err.value)
        assert "no database here" in str(err.value)

    def test_a_silent_server_is_stopped_with_its_group(self, tmp_path: Path) -> None:
        """It never answers: after the timeout it and the child it started are gone."""
        log = tmp_path / "server.log"
        code = (
            "import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(600)\n"
        )
        proc = _spawn(code, log)
        deadline = time.monotonic() + 20
        while not log.read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(log.read_text().split()[0])
        url = f"http://127.0.0.1:{free_port()}"
        try:
            with pytest.raises(
                PrefectServerError, match=r"did not answer .* within 1 s \(stopped\)"
            ):
                wait_healthy(proc, url, log, 1.0, what="the test server")
            proc.wait(timeout=20)
            deadline = time.monotonic() + 20
            while _alive(child) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(child)
        finally:
            kill_group(proc.pid, 1.0)

"""Helpers for the "safe 24/7 operation" tests: git, queued tasks, queue folders, processes.

No mocks: git runs for real, processes are found in /proc, task files are read from disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ORCHESTRA_EMAIL = "orchestra@localhost"
QUEUE_FOLDERS = ("queue", "running", "done", "failed", "rejected")
#: A step of a task has started once its prompt is written: runs/<run>/<task>/<NN-step>/prompt.md
STEP_PROMPT_GLOB = ".orchestra/runs/*/task-*/0*-*/prompt.md"


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """stdout of ``git args`` in ``repo`` (stripped); a failure fails the test."""
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def queue_tasks(project: Path, task_text: Callable[[str], str], *names: str) -> list[Path]:
    """Write one demo task per function name into the project's queue as task-01.md, ..."""
    queue = project / ".orchestra" / "queue"
    queue.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, name in enumerate(names, start=1):
        path = queue / f"task-{number:02d}.md"
        path.write_text(task_text(name), encoding="utf-8")
        paths.append(path)
    return paths


def set_front_matter(path: Path, **values: Any) -> None:
    """Rewrite keys of a task file's YAML front matter (the body is kept)."""
    _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
    data = yaml.safe_load(front) or {}
    data.update(values)
    path.write_text(f"---\n{yaml.safe_dump(data, sort_keys=False)}---\n{body}", encoding="utf-8")


def front_matter(path: Path) -> dict[str, Any]:
    """The YAML front matter of a task file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8").split("---\n", 2)[1])
    return data if isinstance(data, dict) else {}


def task_files(project: Path) -> dict[str, list[str]]:
    """Task files (not claim records, reasons, error reports or patches) per queue folder."""
    listing: dict[str, list[str]] = {}
    for folder in QUEUE_FOLDERS:
        where = project / ".orchestra" / folder
        names = sorted(p.name for p in where.glob("*.md")) if where.is_dir() else []
        listing[folder] = [n for n in names if not n.endswith(".error.md")]
    return listing


def worktrees(project: Path) -> list[str]:
    """Task clones left under .orchestra/worktrees."""
    root = project / ".orchestra" / "worktrees"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def agent_pids(project: Path) -> list[int]:
    """Live demo-agent processes working for ``project`` (their argv names its paths)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        text = [a.decode(errors="replace") for a in argv]
        mine = any(str(project) in a for a in text)
        if state != "Z" and mine and any("demo_agent" in a for a in text):
            found.append(int(entry.name))
    return found


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def kill_group(pgid: int) -> None:
    """SIGKILL a process group that may be gone already."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


@dataclass
class CycleProcess:
    """``python -m flows.run`` running in its own process group, output in a file."""

    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_until(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        """Poll ``check`` while the cycle runs; fail with its output if it exits first."""

        def ready() -> Any:
            value = check()
            if not value and self.proc.poll() is not None:
                pytest.fail(
                    f"the cycle exited ({self.proc.returncode}) before {what}:\n{self.output()[-3000:]}"
                )
            return value

        return wait_for(what, ready, timeout)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the cycle did not exit within {timeout:.0f} s:\n{self.output()[-3000:]}")


def running_step(project: Path) -> Path | None:
    """The prompt of the first task step that started, if any."""
    return next(iter(sorted(project.glob(STEP_PROMPT_GLOB))), None)


def cycle_json(project: Path, state: Any) -> dict[str, Any]:
    """The cycle.json the cycle of ``state`` wrote."""
    run_id = state.state_details.flow_run_id
    path = project / ".orchestra" / "runs" / str(run_id) / "cycle.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def task_report(project: Path, task_id: str) -> str:
    """The newest report.md of ``task_id`` (all runs)."""
    reports = sorted(
        project.glob(f".orchestra/runs/*/{task_id}/report.md"), key=lambda p: p.stat().st_mtime
    )
    assert reports, f"no report.md for {task_id}"
    return reports[-1].read_text(encoding="utf-8")


def outcome(project: Path, task_id: str) -> dict[str, Any]:
    """The newest outcome.json of ``task_id``."""
    found = sorted(
        project.glob(f".orchestra/runs/*/{task_id}/outcome.json"), key=lambda p: p.stat().st_mtime
    )
    assert found, f"no outcome.json for {task_id}"
    data: dict[str, Any] = json.loads(found[-1].read_text(encoding="utf-8"))
    return data


def step_rows(report: str) -> list[dict[str, str]]:
    """The rows of a task report's step table, by column name."""
    lines = [line for line in report.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=False))
        for line in lines[2:]
    ]


def spawn_cycle(project: Path, log: Path, environ: dict[str, str]) -> subprocess.Popen[bytes]:
    """``python -m flows.run --project X`` in its own process group, output into ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flows.run", "--project", str(project)],
            cwd=REPO,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

"""Fixtures for the "safe 24/7 operation" tests (helpers live in ops24_support.py).

Everything is real: git repositories made by ``examples/demo/setup_demo.py``, the scripted demo
agent as a real process, cycles run in process against the session's Prefect API
(``prefect_api`` from tests/conftest.py) or as ``python -m flows.run`` subprocesses pointed at it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ops24_support import CycleProcess, kill_group, spawn_cycle


@pytest.fixture
def ops_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A hermetic environment: no ORCHESTRA_* or DEMO_AGENT_* from outside, no user config."""
    for name in list(os.environ):
        if name.startswith(("ORCHESTRA_", "DEMO_AGENT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return monkeypatch


@pytest.fixture
def project(ops_env: pytest.MonkeyPatch, new_demo: Callable[[Path], Path], tmp_path: Path) -> Path:
    """A fresh demo repository (clean tree, one commit by the demo user)."""
    return new_demo(tmp_path / "demo")


@pytest.fixture
def run_cycle(prefect_api: str) -> Callable[..., Any]:
    """Runs one infinite-orchestra cycle in process and returns its final state."""
    from flows.cycle import infinite_orchestra

    def run(project: Path, **params: Any) -> Any:
        return infinite_orchestra(project=str(project), return_state=True, **params)

    return run


@pytest.fixture
def start_cycle(prefect_api: str, tmp_path: Path) -> Iterator[Callable[..., CycleProcess]]:
    """Starts ``python -m flows.run --project X`` in its own process group (killed at the end)."""
    started: list[CycleProcess] = []

    def start(project: Path, **env: str) -> CycleProcess:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("DEMO_AGENT_")}
        environ.update(PREFECT_API_URL=prefect_api, PYTHONUNBUFFERED="1", **env)
        log = tmp_path / f"cycle-{len(started)}.log"
        proc = spawn_cycle(project, log, environ)
        started.append(CycleProcess(proc, log))
        return started[-1]

    yield start
    for cycle in started:
        kill_group(cycle.proc.pid)
        cycle.proc.wait()

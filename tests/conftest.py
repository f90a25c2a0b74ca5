"""Session-wide fixtures: one real Prefect API per session, clean logging, the offline demo.

Prefect's settings are read from the environment when Prefect is imported and when the test
server starts, so the analytics switch is set here, at import time, before any test module
imports Prefect. ``prefect_api`` starts ``prefect_test_harness`` once (≈13 s) for every test
that asks for it.
"""

from __future__ import annotations

import os

# pytest-xdist gives each worker COLUMNS=80; a rich Console made at import time would keep that
# width for good, whatever a test's own COLUMNS says (the CLI tests read wide tables).
os.environ.pop("COLUMNS", None)

import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import pytest

from orchestra import testing
from orchestra.config.models import WorkerProfile
from orchestra.engine.step import StepContext
from orchestra.testing import StepFactory

os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
#: The user-level Prefect server the tests' cycles start is the session's own (one per xdist
#: worker), never the one in the user's data folder; stopped at the end of the session.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="orchestra-test-data-")

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo"
HARNESS_STARTUP_TIMEOUT = 120


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


#: examples/demo is not a package: load its two scripts by path.
setup_demo = _load("orchestra_tests_setup_demo", DEMO / "setup_demo.py")
demo_agent = _load("orchestra_tests_demo_agent", DEMO / "demo_agent.py")


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """The URL of a real Prefect API (temporary database), started once per session."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=HARNESS_STARTUP_TIMEOUT):
        yield str(PREFECT_API_URL.value())


class PrefectReader:
    """Reads runs and artifacts back from the Prefect API the harness started.

    Task-run records reach the database through Prefect's event pipeline, a moment after the
    flow returns: :meth:`task_runs` waits until every task run of a flow run is final.
    """

    def __init__(self, wait_s: float = 30.0) -> None:
        self.wait_s = wait_s

    def flow_runs(self, *, ids: list[UUID] | None = None, parent: UUID | None = None) -> list[Any]:
        """Flow runs by id, or the subflow runs of ``parent``; oldest first."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterId,
            FlowRunFilterParentFlowRunId,
        )
        from prefect.client.schemas.sorting import FlowRunSort

        flt = FlowRunFilter(
            id=FlowRunFilterId(any_=ids) if ids is not None else None,
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent]) if parent else None,
        )
        with get_client(sync_client=True) as client:
            return list(client.read_flow_runs(flow_run_filter=flt, sort=FlowRunSort.START_TIME_ASC))

    def flow_name(self, flow_run: Any) -> str:
        """The name of the flow a flow run belongs to."""
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            return str(client.read_flow(flow_run.flow_id).name)

    def task_runs(self, flow_run_id: UUID) -> list[Any]:
        """The task runs of one flow run (not of its subflows), once all are final."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
        from prefect.client.schemas.sorting import TaskRunSort

        flt = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        deadline = time.monotonic() + self.wait_s
        while True:
            with get_client(sync_client=True) as client:
                runs = list(
                    client.read_task_runs(
                        flow_run_filter=flt, sort=TaskRunSort.EXPECTED_START_TIME_ASC
                    )
                )
            if all(r.state is not None and r.state.is_final() for r in runs) and runs:
                return runs
            if time.monotonic() > deadline:
                return runs
            time.sleep(0.5)

    def artifacts(self, flow_run_id: UUID) -> list[Any]:
        """Artifacts attached to one flow run (any of its tasks included)."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        flt = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        with get_client(sync_client=True) as client:
            return list(client.read_artifacts(artifact_filter=flt))


@pytest.fixture(scope="session")
def prefect_reader(prefect_api: str) -> PrefectReader:
    """Reads runs and artifacts back from the session's Prefect API."""
    return PrefectReader()


def _stop_live_servers(under: Path) -> None:
    """Stop the projects' own Prefect servers (`flows.run` leaves one running for the UI, as
    it does for users) recorded under ``under``: each would otherwise idle on the CPU for the
    rest of the session."""
    from orchestra.prefect.server import stop_server

    for record in under.glob("**/.orchestra/server.json"):
        stop_server(record.parent.parent)


@pytest.fixture(autouse=True)
def _no_live_server_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that had a tmp_path: its projects' servers are stopped."""
    yield
    folder = getattr(request.node, "funcargs", {}).get("tmp_path")
    if isinstance(folder, Path):
        _stop_live_servers(folder)


@pytest.fixture(scope="session", autouse=True)
def _no_live_server_left_in_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """At the end: those of projects made by module- or session-scoped fixtures too."""
    yield
    _stop_live_servers(tmp_path_factory.getbasetemp())
    from orchestra.prefect.userserver import stop_user_server

    stop_user_server()


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """loguru is process-global: no handler (or open JSONL file) leaks from one test to the next."""
    from orchestra.report.log import reset_logging

    reset_logging()
    yield
    reset_logging()


@pytest.fixture
def no_demo_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo agent's test knobs (DEMO_AGENT_*) come only from the test that sets them."""
    for name in list(os.environ):
        if name.startswith("DEMO_AGENT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def demo_project(tmp_path: Path, no_demo_knobs: None) -> Path:
    """A fresh git repository with the demo project and its scripted-agent orchestra.yaml."""
    return make_demo(tmp_path / "demo")


@pytest.fixture(scope="session")
def new_demo() -> Callable[[Path], Path]:
    """Sets up the demo repository at a given (new or empty) folder; for wider-scoped fixtures."""
    return make_demo


@pytest.fixture(scope="session")
def demo_task() -> Callable[[str], str]:
    """Makes a valid task file (as the demo planner writes it) adding a function to calc/ops.py."""
    return task_for


def make_demo(dest: Path) -> Path:
    """Set up the demo repository at ``dest`` and return its absolute path."""
    return Path(setup_demo.setup(dest))


def task_for(name: str = "multiply") -> str:
    """The demo planner's task file adding ``name`` (multiply or divide) to calc/ops.py."""
    target = f"tests.test_ops.Test{name.capitalize()}"
    return str(demo_agent.task_text(name, "tests/test_ops.py", target))


@pytest.fixture
def implement_step(tmp_path: Path) -> StepFactory:
    """Builds an implement step of a profile with workspace tmp/ws and output tmp/out."""

    def make(profile: WorkerProfile, **values: Any) -> StepContext:
        return testing.implement_step(tmp_path, profile, **values)

    return make

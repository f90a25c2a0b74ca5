"""Runs are named for the repository, not for where Orchestra sees it: under the Compose stack
every repository is mounted at ``/project``, and every run was called "project". The name is
the repository's folder on the host (``ORCHESTRA_HOST_PATH_MAP``, which the stack sets), or
the configured ``name``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestra.project import open_project

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


@pytest.fixture
def mounted(
    tmp_path: Path, new_demo: Callable[[Path], Path], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The demo repository as the stack's worker sees it: a folder named ``project`` that is
    ``/srv/src/myrepo`` on the host."""
    for name in ("ORCHESTRA_HOST_PATH_MAP", "ORCHESTRA_NAME"):
        monkeypatch.delenv(name, raising=False)
    project = new_demo(tmp_path / "project")
    monkeypatch.setenv("ORCHESTRA_HOST_PATH_MAP", f"{project}=/srv/src/myrepo")
    return project


class TestProjectName:
    def test_host_folder_name(self, mounted: Path) -> None:
        proj = open_project(mounted)
        assert proj.name == "myrepo"
        assert proj.project_id.startswith("myrepo-")
        assert proj.host_root == Path("/srv/src/myrepo")

    def test_configured_name_wins(self, mounted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ORCHESTRA_NAME", "billing-api")
        proj = open_project(mounted)
        assert proj.name == "billing-api"
        assert proj.project_id.startswith("billing-api-")

    def test_without_a_map_the_folder_name(self, tmp_path: Path, new_demo: Any) -> None:
        proj = open_project(new_demo(tmp_path / "calc-demo"))
        assert proj.name == "calc-demo"


def test_cycle_task_and_plan_runs_are_named_for_the_host_folder(
    mounted: Path, prefect_reader: Any, demo_task: Callable[[str], str]
) -> None:
    """The cycle's run name and every run's project tag say "myrepo", never "project"; the
    reports in the UI (the cycle's table, the task's report) show paths on the host."""
    from flows.cycle import infinite_orchestra

    queue = mounted / ".orchestra" / "queue"
    queue.mkdir(parents=True)
    (queue / "task-01.md").write_text(demo_task("multiply"), encoding="utf-8")
    state = infinite_orchestra(project=str(mounted), return_state=True)
    assert state.is_completed(), state.message
    [cycle] = prefect_reader.flow_runs(ids=[state.state_details.flow_run_id])
    assert cycle.name.startswith("myrepo · "), cycle.name
    assert "project:myrepo" in cycle.tags, cycle.tags
    subflows = prefect_reader.flow_runs(parent=cycle.id)
    assert subflows
    for run in subflows:
        assert "project:myrepo" in run.tags, (run.name, run.tags)
        assert "project:project" not in run.tags
    table = [a for a in prefect_reader.artifacts(cycle.id) if a.type == "table"]
    assert table, prefect_reader.artifacts(cycle.id)
    shown = str(table[0].data)
    assert "/srv/src/myrepo/.orchestra/runs/" in shown, shown
    assert str(mounted) not in shown
    [task_run] = [r for r in subflows if r.name == "task-01"]
    [report] = [a for a in prefect_reader.artifacts(task_run.id) if a.type == "markdown"]
    assert str(mounted) not in str(report.data), report.data

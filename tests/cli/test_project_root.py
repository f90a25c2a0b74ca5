"""Every command with ``--project`` works on the top of the repository when given a subfolder
(``orchestra stop`` in ``src/`` used to write ``src/.orchestra/STOP``, which no cycle reads)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra.cli.app import app

runner = CliRunner()
WIDE = {"COLUMNS": "400", "PREFECT_API_URL": ""}


@pytest.fixture
def sub(demo_project: Path) -> Path:
    """A folder two levels down in the demo repository."""
    folder = demo_project / "calc" / "deep"
    folder.mkdir(parents=True)
    return folder


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), env=WIDE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.output


def test_stop_and_resume_from_a_subfolder(demo_project: Path, sub: Path) -> None:
    out = invoke("stop", "--project", str(sub))
    assert (demo_project / ".orchestra" / "STOP").is_file(), out
    assert not (sub / ".orchestra").exists()
    out = invoke("resume", "--project", str(sub))
    assert not (demo_project / ".orchestra" / "STOP").exists(), out
    assert f"removed {demo_project / '.orchestra' / 'STOP'}" in out


def test_queue_from_a_subfolder(demo_project: Path, sub: Path) -> None:
    assert f"Tasks of {demo_project}" in invoke("queue", "--project", str(sub))


def test_init_from_a_subfolder(demo_project: Path, sub: Path) -> None:
    out = invoke("init", "--project", str(sub))
    assert f"{demo_project / 'orchestra.yaml'} exists" in out
    assert not (sub / "orchestra.yaml").exists()


def test_run_from_a_subfolder(demo_project: Path, sub: Path) -> None:
    assert f"Dry run for {demo_project}" in invoke("run", "--project", str(sub), "--dry-run")


def test_doctor_from_a_subfolder(demo_project: Path, sub: Path) -> None:
    out = invoke("doctor", "--project", str(sub))
    assert f"{demo_project} (" in out


def test_server_status_from_a_subfolder(demo_project: Path, sub: Path) -> None:
    out = invoke("server", "status", "--project", str(sub))
    assert f"no Prefect server of its own runs for {demo_project}\n" in out
    assert "its cycles use the user-level Prefect server" in out


def test_a_folder_outside_any_repository_is_used_as_is(tmp_path: Path) -> None:
    """Outside a repository there is no top to find: the folder given is the project."""
    out = invoke("stop", "--project", str(tmp_path))
    assert (tmp_path / ".orchestra" / "STOP").is_file(), out


def test_doctor_names_an_unreachable_prefect_api(demo_project: Path) -> None:
    """The stack's server not reachable: doctor names its URL and the fix."""
    from orchestra.prefect.server import free_port

    api = f"http://127.0.0.1:{free_port()}/api"
    result = runner.invoke(
        app, ["doctor", "--project", str(demo_project)], env={**WIDE, "PREFECT_API_URL": api}
    )
    assert result.exit_code == 1, result.output
    line = next(li for li in result.output.splitlines() if "prefect" in li and "problem" in li)
    assert api in line
    assert "make stack-up" in line
    assert "unset PREFECT_API_URL" in line

"""A repository another user owns: git's "dubious ownership" check named as such, with the fix,
and the user's own trust given through ``GIT_CONFIG_*`` honoured by every host command (``orchestra
queue`` and ``python -m flows.run`` alike), as the quick start's root user met it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra.cli.app import app
from orchestra.errors import ProjectError
from orchestra.policy.gates import human_activity
from orchestra.workspace.git import check_project, git

runner = CliRunner()
OTHER = 4242
WIDE = {"COLUMNS": "400", "PREFECT_API_URL": ""}


@pytest.fixture
def foreign(demo_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo repository, handed to another uid (only root can do that)."""
    if os.getuid() != 0:
        reason = "only root can give a repository to another uid"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    for name in [n for n in os.environ if n.startswith("GIT_CONFIG")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(demo_project.parent / "home"))  # no global safe.directory
    for path in [demo_project, *demo_project.rglob("*")]:
        os.lchown(path, OTHER, OTHER)
    return demo_project


def trust(project: Path) -> dict[str, str]:
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "safe.directory",
        "GIT_CONFIG_VALUE_0": str(project),
    }


class TestDubiousOwnership:
    def test_named_with_the_fix(self, foreign: Path) -> None:
        """Not "not a git repository": the owner, git's word for it and the command that fixes it."""
        with pytest.raises(ProjectError) as caught:
            check_project(foreign)
        said = str(caught.value)
        assert "not a git repository" not in said
        assert "dubious ownership" in said
        assert f"uid {OTHER}" in said
        assert f"git config --global --add safe.directory {foreign}" in said

    def test_a_folder_without_git_is_still_not_a_repository(self, tmp_path: Path) -> None:
        with pytest.raises(ProjectError, match="not a git repository"):
            check_project(tmp_path)

    def test_host_git_honours_git_config_variables(
        self, foreign: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The user's GIT_CONFIG_* (safe.directory) reach Orchestra's own host git calls."""
        for name, value in trust(foreign).items():
            monkeypatch.setenv(name, value)
        assert check_project(foreign) == foreign
        assert git(foreign, "rev-parse", "--abbrev-ref", "HEAD") == "main"
        later = 4_000_000_000.0
        assert human_activity(foreign, idle_minutes=30, orchestra_email="o@x", now=later) is None

    def test_run_and_queue_agree(self, foreign: Path) -> None:
        """`orchestra run --dry-run` (python -m flows.run) works where `orchestra queue` does;
        without the trust, both name the ownership problem."""
        env = {**WIDE, **trust(foreign)}
        queue = runner.invoke(app, ["queue", "--project", str(foreign)], env=env)
        assert queue.exit_code == 0, queue.output
        run = runner.invoke(app, ["run", "--project", str(foreign), "--dry-run"], env=env)
        assert run.exit_code == 0, run.output
        assert f"Dry run for {foreign}" in run.output
        bare = runner.invoke(app, ["run", "--project", str(foreign), "--dry-run"], env=WIDE)
        assert bare.exit_code == 2, bare.output
        assert "dubious ownership" in bare.output
        assert shutil.which("git")

"""Preflight refuses `integration: merge` on a detached HEAD (it would make a branch named
after a commit hash)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestra.engine.preflight import check_merge_target
from orchestra.errors import ConfigError
from orchestra.project import open_project


def _detach(repo: Path) -> None:
    subprocess.run(["git", "checkout", "-q", "--detach"], cwd=repo, check=True)


class TestMergeTarget:
    def test_detached_head_with_merge_is_refused(self, demo_project: Path) -> None:
        _detach(demo_project)
        project = open_project(demo_project)
        project.config.git.integration = "merge"
        with pytest.raises(ConfigError, match="HEAD is detached") as err:
            check_merge_target(project)
        assert "git switch" in str(err.value)
        assert "git.base_branch" in str(err.value)

    def test_detached_head_with_a_base_branch_is_fine(self, demo_project: Path) -> None:
        branch = subprocess.run(
            ["git", "symbolic-ref", "--short", "HEAD"],
            cwd=demo_project,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        _detach(demo_project)
        project = open_project(demo_project)
        project.config.git.integration = "merge"
        project.config.git.base_branch = branch
        check_merge_target(project)

    def test_detached_head_with_branch_integration_is_fine(self, demo_project: Path) -> None:
        _detach(demo_project)
        project = open_project(demo_project)
        project.config.git.integration = "branch"
        check_merge_target(project)

    def test_on_a_branch_with_merge_is_fine(self, demo_project: Path) -> None:
        project = open_project(demo_project)
        project.config.git.integration = "merge"
        check_merge_target(project)

"""A cycle reads its config once, and the planning deployment takes the cycle lock.

Seen to break: a config saved mid-cycle with a typo made the next task's subflow fail to open
the project, stranding the task the cycle had claimed; two planners shared worktrees/planner.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.errors import ConfigError


def _break_config(project: Path) -> None:
    with (project / "orchestra.yaml").open("a", encoding="utf-8") as fh:
        fh.write("\nlimits:\n  max_consecutive_failurez: 3\n")  # the typo


@pytest.mark.prefect
class TestConfigOnce:
    def test_subflows_reuse_the_cycles_config(self, demo_project: Path, prefect_api: str) -> None:
        """While a cycle holds the project, a config saved with a typo does not reach its
        subflows; once the cycle ends, the typo is an error naming the key."""
        from orchestra.prefect.runs import held_by_cycle, holding, open_for_run

        run = open_for_run(demo_project)
        with holding(run):
            _break_config(demo_project)
            assert held_by_cycle(demo_project)
            again = open_for_run(str(demo_project))
            assert again.project is run.project
        assert not held_by_cycle(demo_project)
        with pytest.raises(ConfigError, match="max_consecutive_failurez"):
            open_for_run(demo_project)

    def test_task_subflow_after_a_typo_mid_cycle(
        self, demo_project: Path, demo_task: object, prefect_api: str
    ) -> None:
        """The cycle's task subflow, started after the config got a typo, runs its task to the
        end with the config the cycle loaded: nothing stays claimed in running/."""
        from flows.boomerang import roocode_boomerang
        from orchestra.prefect.runs import holding, open_for_run

        run = open_for_run(demo_project)
        queue = run.project.layout.queue
        queue.mkdir(parents=True, exist_ok=True)
        (queue / "task-01.md").write_text(demo_task("multiply"), encoding="utf-8")  # type: ignore[operator]
        claimed = run.project.queue.claim(queue / "task-01.md", run_id="cycle")
        assert claimed is not None
        with holding(run):
            _break_config(demo_project)
            state = roocode_boomerang(
                project=str(demo_project), task_file=str(claimed.task.path), return_state=True
            )
        assert state.is_completed(), state.message
        assert list(run.project.layout.running.glob("*.md")) == []


@pytest.mark.prefect
class TestPlannerLock:
    def test_planning_deployment_skips_while_a_cycle_runs(
        self, demo_project: Path, prefect_api: str
    ) -> None:
        """The planner run on its own while another process holds the cycle lock does nothing."""
        import fcntl

        from flows.plan import infinite_orchestra_plan

        lock = demo_project / ".orchestra" / "cycle.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with lock.open("a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            result = infinite_orchestra_plan(project=str(demo_project))
        assert result["accepted"] == []
        assert "already running" in result["skipped"]
        assert not (demo_project / ".orchestra" / "worktrees" / "planner").exists()

    def test_planning_deployment_plans_when_free(
        self, demo_project: Path, prefect_api: str
    ) -> None:
        from flows.plan import infinite_orchestra_plan

        result = infinite_orchestra_plan(project=str(demo_project))
        assert result["accepted"], result

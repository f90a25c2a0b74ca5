"""Parallel tasks in one cycle (workflows.infinite_orchestra.parallel), on a real Prefect API.

A scripted agent (tests/fixtures/parallel_agent.py) plays every role natively; it sleeps so that
tasks overlap, writes one file per task (or one shared file, to make tasks conflict) and fails on
purpose for the task ids it is told.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from parallel_support import enqueue, git, make_project

from orchestra.engine.parallel import peak_parallel

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def run_cycle(root: Path) -> tuple[Any, dict[str, Any]]:
    from flows.cycle import infinite_orchestra

    state = infinite_orchestra(project=str(root), return_state=True)
    run_dir = root / ".orchestra" / "runs" / str(state.state_details.flow_run_id)
    return state, json.loads((run_dir / "cycle.json").read_text(encoding="utf-8"))


class TestParallelCycle:
    def test_tasks_run_side_by_side_and_all_merge(
        self, tmp_path: Path, prefect_api: str, prefect_reader: Any
    ) -> None:
        """parallel: 3 runs 4 tasks at most 3 at once, each a linked subflow in its own clone;
        later tasks are rebased onto the moved base and every result reaches the base."""
        root = make_project(tmp_path / "p", parallel=3, env={"PA_SLEEP": "1.5"})
        names = enqueue(root, 4)
        state, summary = run_cycle(root)
        assert state.is_completed(), state.message
        tasks = summary["tasks"]
        assert sorted(t["task"] for t in tasks) == names
        assert all(t["status"] == "done" for t in tasks), tasks
        assert peak_parallel(tasks) in (2, 3)
        assert any(t["alongside"] for t in tasks)
        assert all(t["host"] and t["started"] < t["ended"] for t in tasks)
        assert all("fast-forwarded integration" in t["integration"] for t in tasks), tasks
        merged = git(root, "ls-tree", "--name-only", "integration").split()
        assert sorted(f"{n}.txt" for n in names) == sorted(
            m for m in merged if m.startswith("task-")
        )
        subflows = prefect_reader.flow_runs(parent=state.state_details.flow_run_id)
        assert sorted(r.name for r in subflows if r.name.startswith("task-")) == names
        assert sorted(p.name for p in (root / ".orchestra" / "done").iterdir() if p.suffix == ".md")
        assert not list((root / ".orchestra" / "running").glob("task-*.md"))

    def test_conflicting_task_is_left_on_its_branch(self, tmp_path: Path, prefect_api: str) -> None:
        """Two tasks append to the same file and no resolve step is allowed
        (git.resolve_worker: none): one fast-forwards the base, the other stays on
        orchestra/<task-id> with a reason that names the conflicting file."""
        env = {"PA_SLEEP": "1", "PA_SHARED": "1"}
        extra = "  resolve_worker: none\n"  # appended under the git: section
        root = make_project(tmp_path / "p", parallel=2, env=env, extra=extra)
        enqueue(root, 2)
        state, summary = run_cycle(root)
        assert state.is_completed(), state.message
        integrations = sorted(t["integration"] for t in summary["tasks"])
        assert sum("fast-forwarded integration" in i for i in integrations) == 1, integrations
        left = [i for i in integrations if "not merged" in i]
        assert len(left) == 1
        assert "rebase onto the moved 'integration'" in left[0]
        assert "conflicts in shared.txt" in left[0]
        assert "left on its branch" in left[0]
        assert "git failed" not in left[0]
        for n in (1, 2):
            assert git(root, "rev-parse", "--verify", f"orchestra/task-{n}")

    def test_breaker_counts_in_completion_order(self, tmp_path: Path, prefect_api: str) -> None:
        """task-2 fails first while task-1 still runs: the cycle stops claiming at once
        (continue_on_failure false), lets task-1 finish, and records both as they ended."""
        extra = "limits:\n  max_consecutive_failures: 5\n"  # the rule under test stops it first
        env = {"PA_SLEEP": "0", "PA_FAIL": "task-2", "PA_SLOW": "task-1=3"}
        root = make_project(tmp_path / "p", parallel=2, env=env, extra=extra)
        cfg = (root / "orchestra.yaml").read_text(encoding="utf-8")
        cfg = cfg.replace(
            "max_tasks_per_cycle: 10", "max_tasks_per_cycle: 10\n    continue_on_failure: false"
        )
        (root / "orchestra.yaml").write_text(cfg, encoding="utf-8")
        git(root, "commit", "-qam", "no continue")
        enqueue(root, 4)
        state, summary = run_cycle(root)
        order = [t["task"] for t in summary["tasks"]]
        assert order == ["task-2", "task-1"], summary["tasks"]
        assert "task-2 failed and continue_on_failure is false" in summary["stop_reason"]
        queued = sorted(p.name for p in (root / ".orchestra" / "queue").glob("task-*.md"))
        assert queued == ["task-2.md", "task-3.md", "task-4.md"]  # task-2 back with an attempt
        assert state.is_failed()

    def test_kill_switch_stops_every_running_step(self, tmp_path: Path, prefect_api: str) -> None:
        """`orchestra stop` (the STOP file) mid-cycle stops both running tasks' steps within
        seconds and claims nothing more."""
        root = make_project(tmp_path / "p", parallel=2, env={"PA_SLEEP": "60"})
        enqueue(root, 3)
        stop = root / ".orchestra" / "STOP"
        timer = threading.Timer(8.0, lambda: stop.write_text("test\n", encoding="utf-8"))
        timer.start()
        started = time.monotonic()
        try:
            state, summary = run_cycle(root)
        finally:
            timer.cancel()
        assert time.monotonic() - started < 45
        assert sorted(t["task"] for t in summary["tasks"]) == ["task-1", "task-2"]
        assert all("kill switch" in t["reason"] for t in summary["tasks"]), summary["tasks"]
        assert (root / ".orchestra" / "queue" / "task-3.md").exists()
        assert state.is_failed()

    def test_max_tasks_per_cycle_bounds_the_total(self, tmp_path: Path, prefect_api: str) -> None:
        """parallel: 4 with max_tasks_per_cycle 3 runs 3 of 6 tasks."""
        root = make_project(tmp_path / "p", parallel=4, env={"PA_SLEEP": "0"})
        cfg = (root / "orchestra.yaml").read_text(encoding="utf-8")
        (root / "orchestra.yaml").write_text(
            cfg.replace("max_tasks_per_cycle: 10", "max_tasks_per_cycle: 3"), encoding="utf-8"
        )
        git(root, "commit", "-qam", "three")
        enqueue(root, 6)
        state, summary = run_cycle(root)
        assert state.is_completed(), state.message
        assert sorted(t["task"] for t in summary["tasks"]) == ["task-1", "task-2", "task-3"]
        assert len(list((root / ".orchestra" / "queue").glob("task-*.md"))) == 3

    def test_global_limit_bounds_agents(self, tmp_path: Path, prefect_api: str) -> None:
        """limits.max_parallel_agents: 1 lets only one agent step run at a time, whatever
        parallel is; tasks still overlap in their clones."""
        log = tmp_path / "agents.log"
        root = make_project(
            tmp_path / "p",
            parallel=3,
            env={"PA_SLEEP": "1", "PA_LOG": str(log)},
            extra="limits:\n  max_parallel_agents: 1\n",
        )
        enqueue(root, 3)
        state, summary = run_cycle(root)
        assert state.is_completed(), state.message
        assert peak_parallel(summary["tasks"]) >= 2
        lines = log.read_text(encoding="utf-8").splitlines()
        spans = [(float(a), float(b)) for a, b, *_ in (line.split() for line in lines)]
        assert len(spans) == 9
        spans.sort()
        assert all(a[1] <= b[0] + 0.05 for a, b in itertools.pairwise(spans)), spans

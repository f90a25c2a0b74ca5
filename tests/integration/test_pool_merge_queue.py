"""The merge queue over `dispatch: pool`: results from two worker hosts land like local ones.

The cluster is tests/support/pool_cluster.py's (a Prefect server on Postgres, a bare remote,
two workers of ``--limit 2``); the agent and the case are test_merge_queue.py's: four tasks
edit shared.txt at once. The workers run the steps and push their branches; the cycle fetches
each as its run ends, replays it onto the moved base, runs the resolve step on its own host
when the replay conflicts, verifies again and lands it, or names the conflicting file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from parallel_support import AGENT, ENV, SHARED, VERIFY, assert_landed
from support.pool_cluster import cluster, finish, git, last_cycle, make_project, queue, start_cycle

CYCLE_S = 300
"""The cycle's budget: the slowest task's four steps take 32 s, each run's start a few."""
POOL_ENV = {**ENV, "PA_SLOW": "task-1=0.5,task-3=2,task-2=4,task-4=8"}
"""Wider gaps than locally: the cycle sees a pool run end only at its next poll."""


@pytest.mark.multihost
@pytest.mark.timeout(900)  # the cluster's start-up (up to 3 x 120 s) and one cycle
def test_pool_results_land_through_the_queue(tmp_path: Path) -> None:
    """Four overlapping edits from two worker hosts: every non-conflicting change lands on
    `integration`, the conflicting ones are resolved on the cycle's host, task-4's unresolved
    conflict stays on its branch naming shared.txt."""
    with cluster(workers=2, limit=2) as found:
        barrier = found.remote / "barrier"  # the one folder every worker shares
        barrier.mkdir()
        root = make_project(
            tmp_path / "project",
            found.remote,
            0.5,
            parallel=4,
            agent=AGENT,
            env={**POOL_ENV, "PA_BARRIER": f"{barrier}:4"},
            git_lines=(
                "  base_branch: integration",
                "  integration: merge",
                f"  verify: {json.dumps(VERIFY)}",
            ),
            files={"shared.txt": SHARED},
        )
        git(root, "branch", "integration")
        queue(root, ["task-1", "task-2", "task-3", "task-4"])
        out = finish(start_cycle(root, found.api), CYCLE_S)
        summary = last_cycle(root, out)
        assert_landed(root, "integration", summary["tasks"], steps=5)
        assert {t["host"] for t in summary["tasks"]} <= {"orch12b-w1", "orch12b-w2"}

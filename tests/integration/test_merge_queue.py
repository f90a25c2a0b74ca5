"""The merge queue (orchestra/engine/mergequeue.py) on a real cycle: parallel results that land.

Four tasks run side by side and edit the same file, ``shared.txt``: three append a line at its
end (their edits overlap), one replaces its first line (apart from the others). The scripted
agent (tests/fixtures/parallel_agent.py) plays every role, including the queue's resolve step,
where it keeps both sides of each conflict; task-4 is told to fail that step. Verify refuses a
file with conflict markers, so a replayed result is checked again for real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from parallel_support import ENV, SHARED, VERIFY, assert_landed, enqueue, git, make_project

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def run_cycle(root: Path) -> tuple[Any, dict[str, Any]]:
    from flows.cycle import infinite_orchestra

    state = infinite_orchestra(project=str(root), return_state=True)
    run_dir = root / ".orchestra" / "runs" / str(state.state_details.flow_run_id)
    return state, json.loads((run_dir / "cycle.json").read_text(encoding="utf-8"))


class TestMergeQueueLocal:
    def test_overlapping_parallel_edits_land_or_name_their_conflict(
        self, tmp_path: Path, prefect_api: str
    ) -> None:
        """parallel: 4 onto a base that is not checked out: task-3's edit apart lands, the
        appends land one after another (the later ones resolved by the fixer and verified
        again), task-4's unresolved conflict stays on its branch naming shared.txt."""
        barrier = tmp_path / "barrier"  # all four start from the same base
        barrier.mkdir()
        env = {**ENV, "PA_BARRIER": f"{barrier}:4"}
        root = make_project(
            tmp_path / "p", parallel=4, env=env, verify=VERIFY, files={"shared.txt": SHARED}
        )
        enqueue(root, 4)
        state, summary = run_cycle(root)
        assert state.is_completed(), state.message
        assert_landed(root, "integration", summary["tasks"])

    def test_checked_out_base_is_never_touched(self, tmp_path: Path, prefect_api: str) -> None:
        """With `main` checked out (no base_branch), results land on orchestra-landed/main, one
        after another; the user's branch, index and files stay as they were."""
        env = {"PA_SLEEP": "0.3", "PA_SLOW": "task-2=1"}
        root = make_project(tmp_path / "p", parallel=2, env=env, base=None)
        (root / "README.md").write_text("# parallel\n\nthe user's own edit\n", encoding="utf-8")
        head = git(root, "rev-parse", "main")
        enqueue(root, 2)
        state, summary = run_cycle(root)
        assert state.is_completed(), state.message
        tasks = summary["tasks"]
        assert all("landed on orchestra-landed/main" in t["integration"] for t in tasks), tasks
        assert git(root, "rev-parse", "main") == head
        assert "the user's own edit" in (root / "README.md").read_text(encoding="utf-8")
        assert git(root, "status", "--porcelain", "--untracked-files=no") == "M README.md"
        landed = git(root, "ls-tree", "--name-only", "orchestra-landed/main").split()
        assert {"task-1.txt", "task-2.txt"} <= set(landed)
        assert git(root, "merge-base", "--is-ancestor", "main", "orchestra-landed/main") == ""

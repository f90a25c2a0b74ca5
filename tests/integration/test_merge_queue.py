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
from parallel_support import enqueue, git, make_project

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

SHARED = "".join(f"line {n}\n" for n in range(1, 11))
VERIFY = "test -s README.md && ! grep -q '^<<<<<<<' shared.txt"
ENV = {
    "PA_SLEEP": "0.5",
    "PA_SHARED": "1",
    "PA_LINE": "task-3=1",
    "PA_NO_RESOLVE": "task-4",
    # task-4 ends last, so its append always meets the others' and its resolve step fails.
    "PA_SLOW": "task-1=0.5,task-2=1.5,task-3=1,task-4=4",
}


def run_cycle(root: Path) -> tuple[Any, dict[str, Any]]:
    from flows.cycle import infinite_orchestra

    state = infinite_orchestra(project=str(root), return_state=True)
    run_dir = root / ".orchestra" / "runs" / str(state.state_details.flow_run_id)
    return state, json.loads((run_dir / "cycle.json").read_text(encoding="utf-8"))


def assert_landed(root: Path, target: str, tasks: list[dict[str, Any]]) -> None:
    """Every change but task-4's is on ``target``; task-4 waits on its branch, files named."""
    by_id = {t["task"]: t for t in tasks}
    assert sorted(by_id) == ["task-1", "task-2", "task-3", "task-4"]
    assert all(t["status"] == "done" for t in tasks), tasks
    lines = git(root, "show", f"{target}:shared.txt").splitlines()
    assert lines[0] == "task-3", lines
    assert sorted(lines[10:]) == ["task-1", "task-2"], lines
    assert not [line for line in lines if line.startswith(("<<<<<<<", "=======", ">>>>>>>"))]
    for task_id in ("task-1", "task-2", "task-3"):
        assert "not merged" not in by_id[task_id]["integration"], by_id[task_id]
    # The second append conflicted with the first: resolved by the fixer, verified, landed.
    assert any(t["steps"] >= 6 for t in (by_id["task-1"], by_id["task-2"])), tasks
    left = by_id["task-4"]["integration"]
    assert "not merged" in left and "left on its branch" in left, left
    assert "conflicts in shared.txt" in left, left
    assert "resolve (fixer) failed" in left, left
    assert "git failed" not in left, left
    assert "task-4" in git(root, "show", "orchestra/task-4:shared.txt")
    # The queue took them in the order they completed, and the table shows it.
    ended = [t["task"] for t in sorted(tasks, key=lambda t: t["ended"])]
    queued = [t["task"] for t in sorted(tasks, key=lambda t: int(t["queue"][1:].split(":")[0]))]
    assert queued == ended, tasks
    assert "replayed and verified again" in by_id["task-4"]["queue"], tasks


class TestMergeQueueLocal:
    def test_overlapping_parallel_edits_land_or_name_their_conflict(
        self, tmp_path: Path, prefect_api: str
    ) -> None:
        """parallel: 4 onto a base that is not checked out: task-3's edit apart lands, the
        appends land one after another (the later ones resolved by the fixer and verified
        again), task-4's unresolved conflict stays on its branch naming shared.txt."""
        root = make_project(
            tmp_path / "p", parallel=4, env=ENV, verify=VERIFY, files={"shared.txt": SHARED}
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

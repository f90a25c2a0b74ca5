"""A person approves, rejects or sends back a result (git.approval), on a real Prefect API.

Each task's flow run pauses with the approval form (Prefect's ``pause_flow_run`` with
``wait_for_input``); a thread plays the person through the same calls `orchestra approve|reject|
send-back` make (orchestra/prefect/approval.py): it finds the task's paused run by its tag and
resumes it with the form's values. The browser's way through the Prefect UI is not covered here.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from parallel_support import enqueue, git, make_project

from orchestra.prefect.approval import NotWaiting, answer, waiting_run

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def run_cycle(root: Path) -> tuple[Any, dict[str, Any]]:
    from flows.cycle import infinite_orchestra

    state = infinite_orchestra(project=str(root), return_state=True)
    run_dir = root / ".orchestra" / "runs" / str(state.state_details.flow_run_id)
    return state, json.loads((run_dir / "cycle.json").read_text(encoding="utf-8"))


def wait_paused(task_id: str, after: set[str], deadline_s: float = 90) -> str:
    """The id of a paused run of ``task_id`` not in ``after`` (waits for it)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            run = str(waiting_run(task_id))
        except NotWaiting:
            run = ""
        if run:
            return run
        time.sleep(0.5)
    raise AssertionError(f"{task_id} never waited for approval ({after})")


class Person(threading.Thread):
    """Answers the tasks in a fixed order; remembers what failed."""

    def __init__(self, script: list[tuple[str, str, str]]) -> None:
        super().__init__(daemon=True)
        self.script = script
        self.error: BaseException | None = None
        self.done: list[str] = []

    def run(self) -> None:
        try:
            for task_id, decision, comment in self.script:
                wait_paused(task_id, set())
                answer(task_id, decision, comment)  # type: ignore[arg-type]
                self.done.append(f"{task_id}:{decision}")
                time.sleep(1.0)  # the run leaves Paused before it could be found again
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_approve_reject_and_send_back(tmp_path: Path, prefect_api: str) -> None:
    """Three tasks wait side by side: task-2 is rejected, task-3 sent back with a comment (its
    fixer gets it, verify runs again, it asks again and is approved), then task-1, which waited
    all along, is approved. Approved results land; the rejected one fails with the comment."""
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    env = {"PA_SLEEP": "0.2", "PA_PROMPTS": str(prompts)}
    extra = "  approval: merge\n  approval_timeout: 300\n"
    root = make_project(tmp_path / "p", parallel=3, env=env, extra=extra)
    enqueue(root, 3)
    person = Person(
        [
            ("task-2", "reject", "not what I asked for"),
            ("task-3", "send back", "please name the file after the moon"),
            ("task-3", "approve", ""),
            ("task-1", "approve", "fine"),
        ]
    )
    person.start()
    state, summary = run_cycle(root)
    person.join(timeout=30)
    assert person.error is None, person.error
    by_id = {t["task"]: t for t in summary["tasks"]}
    assert by_id["task-2"]["status"] == "failed"
    assert "rejected by a person: not what I asked for" in by_id["task-2"]["reason"]
    for task_id in ("task-1", "task-3"):
        assert by_id[task_id]["status"] == "done", by_id[task_id]
        assert "fast-forwarded integration" in by_id[task_id]["integration"], by_id[task_id]
    merged = git(root, "ls-tree", "--name-only", "integration").split()
    assert "task-1.txt" in merged and "task-3.txt" in merged and "task-2.txt" not in merged
    fixes = sorted(prompts.glob("task-3-fix-*.md"))
    assert len(fixes) == 1, sorted(p.name for p in prompts.iterdir())
    assert "please name the file after the moon" in fixes[0].read_text(encoding="utf-8")
    # task-1 waited while task-3 went through its send-back: the cycle went on without it.
    assert by_id["task-3"]["ended"] < by_id["task-1"]["ended"]
    assert state.is_failed()  # task-2 failed


def test_timeout_leaves_the_result_on_its_branch(tmp_path: Path, prefect_api: str) -> None:
    """Nobody answers within git.approval_timeout: the task is done, not merged, with that
    reason, and its result waits on orchestra/<task-id>."""
    extra = "  approval: merge\n  approval_timeout: 3\n"
    root = make_project(tmp_path / "p", parallel=1, env={"PA_SLEEP": "0"}, extra=extra)
    enqueue(root, 1)
    _state, summary = run_cycle(root)
    (task,) = summary["tasks"]
    assert task["status"] == "done", task
    assert "not merged: no approval within git.approval_timeout (3 s)" in task["integration"]
    assert "left on its branch" in task["integration"]
    assert "task-1.txt" in git(root, "ls-tree", "--name-only", "orchestra/task-1").split()
    assert "task-1.txt" not in git(root, "ls-tree", "--name-only", "integration").split()

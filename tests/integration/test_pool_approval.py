"""A person approves pool results (``git.approval: merge``, ``dispatch: pool``) on the cycle's host.

The cluster is tests/support/pool_cluster.py's (a Prefect server on Postgres, a bare remote,
two worker containers). The workers run the steps with ``integration: branch`` and push; the
cycle asks about each result in a subflow of its own (flow ``approve``, run ``<task-id>``)
that pauses, while the cycle goes on. A thread plays the person through the calls `orchestra approve|reject|
send-back` make (orchestra/prefect/approval.py): it finds the task's paused run by its tag.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from parallel_support import AGENT
from support.pool_cluster import (
    cluster,
    finish,
    git,
    last_cycle,
    make_project,
    queue,
    remote_branches,
    start_cycle,
)

from orchestra.prefect.approval import NotWaiting, answer, waiting_run

TIMEOUT_S = 45
"""git.approval_timeout: task-3 is never answered and waits this long."""


def paused(task_id: str) -> str:
    """The id of the paused run of ``task_id``, '' when none waits."""
    try:
        return str(waiting_run(task_id))
    except NotWaiting:
        return ""


class Person(threading.Thread):
    """Waits until task-1 and task-2 ask at the same time; rejects task-2, sends task-1 back
    with a comment and approves it when it asks again; never answers task-3."""

    def __init__(self, api: str) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.error: BaseException | None = None
        self.both_waiting: dict[str, str] = {}
        self.done: list[str] = []

    def until(self, task_id: str, deadline_s: float = 240) -> str:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if run := paused(task_id):
                return run
            time.sleep(0.5)
        raise AssertionError(f"{task_id} never waited for approval (answered: {self.done})")

    def run(self) -> None:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        try:
            with temporary_settings({PREFECT_API_URL: self.api}):
                self.until("task-1")
                self.until("task-2")
                self.both_waiting = {t: paused(t) for t in ("task-1", "task-2", "task-3")}
                answer("task-2", "reject", "not what I asked for")
                self.done.append("task-2:reject")
                answer("task-1", "send back", "please name the file after the moon")
                self.done.append("task-1:send back")
                self.until("task-1")  # the fix ran on the cycle's host, verify again, asks again
                answer("task-1", "approve", "fine")
                self.done.append("task-1:approve")
        except BaseException as exc:  # reported by the test
            self.error = exc


@pytest.mark.multihost
@pytest.mark.timeout(900)  # the cluster's start-up (up to 3 x 120 s) and one cycle
def test_pool_results_wait_for_a_person(tmp_path: Path) -> None:
    """Three pool results ask at once: task-2 is rejected (fails, nothing merged), task-1 is
    sent back (the fixer gets the comment on the cycle's host), asks again and is approved
    (merged), task-3 is never answered (done, left on its branch with the timeout's reason).
    Each waited in its own paused subflow: task-1 and task-2 waited at the same moment, and
    task-2 was settled while task-1 still waited."""
    with cluster(workers=2, limit=2) as found:
        prompts = found.remote / "prompts"  # the one folder the workers share with this host
        prompts.mkdir()
        root = make_project(
            tmp_path / "project",
            found.remote,
            0.2,
            parallel=3,
            agent=AGENT,
            env={"PA_SLEEP": "0.2", "PA_PROMPTS": str(prompts)},
            git_lines=(
                "  base_branch: integration",
                "  integration: merge",
                "  approval: merge",
                f"  approval_timeout: {TIMEOUT_S}",
            ),
        )
        git(root, "branch", "integration")
        queue(root, ["task-1", "task-2", "task-3"])
        person = Person(found.api)
        person.start()
        began = time.monotonic()
        out = finish(start_cycle(root, found.api), 420)
        took = time.monotonic() - began
        person.join(timeout=30)
        assert person.error is None, f"{person.error}\n{out[-4000:]}"
        summary = last_cycle(root, out)
        on_remote = remote_branches(found.remote)
        fixes = [p.read_text(encoding="utf-8") for p in prompts.glob("task-1-fix-*.md")]
    by_id = {t["task"]: t for t in summary["tasks"]}
    order = [t["task"] for t in summary["tasks"]]
    print(f"cycle took {took:.0f} s; settled in order {order}")
    # Not blocked: two results waited at once, each in its own run, and the rejected one was
    # settled (in completion order) while task-1 still waited for its send-back and approval.
    waiting = person.both_waiting
    assert waiting["task-1"] and waiting["task-2"], waiting
    assert waiting["task-1"] != waiting["task-2"], waiting
    assert order.index("task-2") < order.index("task-1"), order
    rejected = by_id["task-2"]
    assert rejected["status"] == "failed", rejected
    assert "rejected by a person: not what I asked for" in rejected["reason"], rejected
    assert "/done/" not in rejected["moved_to"], rejected  # failed: back with an attempt
    assert git(root, "branch", "--list", "orchestra/task-2") == ""
    assert "task-2" not in on_remote and {"task-1", "task-3"} <= on_remote, on_remote
    approved = by_id["task-1"]
    assert approved["status"] == "done", approved
    assert "fast-forwarded integration" in approved["integration"], approved
    merged = git(root, "ls-tree", "--name-only", "integration").split()
    assert "task-1.txt" in merged and "task-2.txt" not in merged and "task-3.txt" not in merged
    assert any("please name the file after the moon" in text for text in fixes), len(fixes)
    waited = by_id["task-3"]
    assert waited["status"] == "done", waited
    reason = f"not merged: no approval within git.approval_timeout ({TIMEOUT_S} s)"
    assert reason in waited["integration"] and "left on its branch" in waited["integration"]
    assert "task-3.txt" in git(root, "ls-tree", "--name-only", "orchestra/task-3").split()

"""`dispatch: pool` on the real engine: a Prefect server and two worker hosts in Docker.

The set-up is tests/support/pool_cluster.py's (a private network with Postgres, the server from
the orchestrator image on it, a bare remote served over file:// from a shared folder, two
workers each running ``prefect worker start --pool orch12b-tasks --limit 1``). A cycle of 6
tasks with ``parallel: 2``: every task ran exactly once, on both hosts, every branch reached the
remote, the queue is settled. Then one worker is killed mid-task: its task is requeued without
an attempt, and the next cycle finishes it on the other worker, with steps long enough (100 s)
that it passes only if a live worker's heartbeats keep it from being taken for dead. Nothing is
left afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.pool_cluster import (
    ROLES,
    Cluster,
    cluster,
    docker,
    finish,
    git,
    hosts,
    last_cycle,
    left_of,
    make_project,
    queue,
    remote_branches,
    running_on,
    start_cycle,
)

WORKERS = hosts(2)
CYCLE_S = 300
"""Each cycle's budget. Measured under two CPU burners on this 2-core machine: 75 s (6 tasks),
95 s (the dead worker: up to 30 s since its last heartbeat, then 75 s of silence), 120 s
(4 x 25 s steps); 300 s leaves room for a loaded CI machine and still fails well before CI's
90 min."""


@pytest.mark.multihost
@pytest.mark.timeout(1500)  # above the sum of its own waits: 3 x 120 s start-up, 3 cycles, 120 s
def test_pool_over_two_hosts(tmp_path: Path) -> None:
    """Six tasks over two worker hosts, then a worker killed mid-task; nothing left after."""
    with cluster(workers=2, limit=1) as found:
        names = docker("ps", "--filter", f"network={found.tag}", "--format", "{{.Names}}")
        expected = [f"{found.tag}-postgres", f"{found.tag}-server", *found.workers.values()]
        assert sorted(names.split()) == sorted(expected)
        _six_tasks_then_a_dead_worker(found, tmp_path)
    assert left_of(found.tag) == ""
    assert found.tag not in docker("network", "ls", "--format", "{{.Name}}")
    assert not found.remote.exists()  # the shared folder went too


def _six_tasks_then_a_dead_worker(cluster: Cluster, tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", cluster.remote, 1.0)
    names = [f"task-{n}" for n in range(1, 7)]
    queue(root, names)
    out = finish(start_cycle(root, cluster.api), CYCLE_S)
    summary = last_cycle(root, out)
    tasks = summary["tasks"]
    assert sorted(t["task"] for t in tasks) == names, out[-3000:]  # each exactly once
    assert all(t["status"] == "done" for t in tasks), [t.get("reason") for t in tasks]
    assert {t["host"] for t in tasks} == set(WORKERS), [t["host"] for t in tasks]
    assert remote_branches(cluster.remote) == set(names)
    for name in names:  # fetched into the project too, at the remote's commit
        branch = f"refs/heads/orchestra/{name}"
        assert git(root, "rev-parse", branch) == git(cluster.remote, "rev-parse", branch)
    listing = {
        d: sorted(p.name for p in (root / ".orchestra" / d).glob("*.md"))
        for d in ("queue", "running", "failed")
    }
    assert listing == {"queue": [], "running": [], "failed": []}
    assert len(list((root / ".orchestra" / "done").glob("task-*.md"))) == 6

    # A worker dies mid-task: the task goes back without an attempt, then runs on the other.
    queue(root, ["task-7"])
    slow = root / "orchestra.local.yaml"
    slow.write_text(
        "workers:\n"
        + "".join(
            f'  {w}:\n    env: {{FAST_AGENT_SLEEP: "15", FAST_AGENT_WRITE: "1"}}\n'
            for w in ("planner", *ROLES.values())
        ),
        encoding="utf-8",
    )
    proc = start_cycle(root, cluster.api)
    victim = running_on(cluster, cluster.api, "task-7")
    docker("kill", cluster.workers[victim])
    out = finish(proc, CYCLE_S)
    lost = last_cycle(root, out)["tasks"]
    assert [t["task"] for t in lost] == ["task-7"], out[-3000:]
    assert lost[0]["kind"] == "infrastructure", lost
    assert "went silent" in lost[0]["reason"], lost
    requeued = root / ".orchestra" / "queue" / "task-7.md"
    assert requeued.is_file()
    assert "attempts" not in requeued.read_text(encoding="utf-8")  # no attempt counted

    # The retry's steps take 4 x 25 s: longer than the 75 s of silence that marks a worker
    # dead, so it passes only if a live worker's heartbeats reach the cycle.
    slow.write_text(slow.read_text(encoding="utf-8").replace('"15"', '"25"'), encoding="utf-8")
    out = finish(start_cycle(root, cluster.api), CYCLE_S)
    again = last_cycle(root, out)["tasks"]
    survivor = next(h for h in WORKERS if h != victim)
    assert [(t["task"], t["status"], t["host"]) for t in again] == [("task-7", "done", survivor)]
    assert "task-7" in remote_branches(cluster.remote)

"""One whole demo cycle, in process, against a real Prefect API: what the UI shows, what is on disk.

The cycle runs once per module (``cycle``); every test reads one part of its result back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

STEP_NAMES = ("plan (architect)", "implement (coder)", "review (reviewer)", "verify (coder)")
ARCHIVE_NAME = re.compile(r"^task-\d{2}-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z\.md$")
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
REPORT_COLUMNS = ("id", "title", "worker", "status", "duration", "verdict", "output tail")
LOG_LEVELS = {"debug", "info", "warning", "error", "critical"}
#: The JSONL contract (docs/DESIGN.md, Alloy parses these): always, and when known.
LOG_FIELDS = {"timestamp", "level", "message", "source"}
CONTEXT_FIELDS = {"flow_run_id", "task_run_id", "task_id", "step", "worker"}


def git(repo: Path, *args: str) -> str:
    """stdout of ``git args`` in ``repo``."""
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


@dataclass(frozen=True)
class Checkout:
    """What the user's checkout looked like: it must look the same after the cycle."""

    status: str
    head: str
    index: str
    files: dict[str, str]

    @classmethod
    def of(cls, repo: Path) -> Checkout:
        files = {
            str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(repo.rglob("*"))
            if p.is_file() and ".git" not in p.parts and ".orchestra" not in p.parts
        }
        index = hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest()
        # --no-optional-locks: `git status` itself must not refresh (rewrite) the index.
        status = git(repo, "--no-optional-locks", "status", "--porcelain")
        return cls(status, git(repo, "rev-parse", "HEAD"), index, files)


@dataclass(frozen=True)
class CycleRun:
    """The demo cycle's state, project and how it looked before."""

    state: Any
    project: Path
    before: Checkout

    @property
    def flow_run_id(self) -> Any:
        return self.state.state_details.flow_run_id


@pytest.fixture(scope="module")
def cycle(
    prefect_api: str,
    new_demo: Callable[[Path], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> CycleRun:
    """Runs one cycle of the demo project (plan, then two tasks) and keeps its state."""
    from flows.cycle import infinite_orchestra

    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("DEMO_AGENT_")]:
            mp.delenv(name)
        project = new_demo(tmp_path_factory.mktemp("e2e") / "demo")
        before = Checkout.of(project)
        state = infinite_orchestra(project=str(project), return_state=True)
    return CycleRun(state, project, before)


def _subflows(cycle: CycleRun, reader: Any) -> dict[str, list[Any]]:
    """The cycle's subflow runs grouped by flow name."""
    grouped: dict[str, list[Any]] = {}
    for run in reader.flow_runs(parent=cycle.flow_run_id):
        grouped.setdefault(reader.flow_name(run), []).append(run)
    return grouped


class TestPrefectRecord:
    """What the Prefect API holds about the cycle."""

    def test_cycle_completed(self, cycle: CycleRun, prefect_reader: Any) -> None:
        """The cycle flow run is a Completed run of flow infinite-orchestra, saying what it did."""
        assert cycle.state.is_completed(), cycle.state.message
        [run] = prefect_reader.flow_runs(ids=[cycle.flow_run_id])
        assert prefect_reader.flow_name(run) == "infinite-orchestra"
        assert run.state.is_completed()
        assert cycle.state.message == "planned 2, ran 2, archived 2, failed 0, rejected 0"

    def test_subflow_runs(self, cycle: CycleRun, prefect_reader: Any) -> None:
        """One Completed planner subflow, then one Completed roocode-boomerang run per task."""
        grouped = _subflows(cycle, prefect_reader)
        assert sorted(grouped) == ["infinite-orchestra-plan", "roocode-boomerang"]
        assert len(grouped["infinite-orchestra-plan"]) == 1
        assert sorted(r.name for r in grouped["roocode-boomerang"]) == ["task-01", "task-02"]
        for runs in grouped.values():
            assert all(r.state.is_completed() for r in runs), [(r.name, r.state) for r in runs]

    def test_step_task_runs(self, cycle: CycleRun, prefect_reader: Any) -> None:
        """Each task's steps are Completed task runs named `<task-id> · <step> (<worker>)`."""
        for run in _subflows(cycle, prefect_reader)["roocode-boomerang"]:
            task_runs = prefect_reader.task_runs(run.id)
            assert [t.name for t in task_runs] == [f"{run.name} · {s}" for s in STEP_NAMES]
            assert all(t.state.is_completed() for t in task_runs), [
                (t.name, t.state) for t in task_runs
            ]

    def test_planner_task_run(self, cycle: CycleRun, prefect_reader: Any) -> None:
        """The planner flow runs one Completed task run `planner · plan-queue (planner)`."""
        [plan] = _subflows(cycle, prefect_reader)["infinite-orchestra-plan"]
        task_runs = prefect_reader.task_runs(plan.id)
        assert [(t.name, t.state.is_completed()) for t in task_runs] == [
            ("planner · plan-queue (planner)", True)
        ]

    def test_task_report_artifacts(self, cycle: CycleRun, prefect_reader: Any) -> None:
        """Each task run has a markdown report: the step table with its columns and APPROVE."""
        for run in _subflows(cycle, prefect_reader)["roocode-boomerang"]:
            [artifact] = [a for a in prefect_reader.artifacts(run.id) if a.type == "markdown"]
            rows = [
                [c.strip() for c in line.strip().strip("|").split("|")]
                for line in str(artifact.data).splitlines()
                if line.startswith("|")
            ]
            header, body = rows[0], rows[2:]
            assert [c for c in header if c in REPORT_COLUMNS] == list(REPORT_COLUMNS)
            steps = [dict(zip(header, row, strict=True)) for row in body]
            assert [s["id"] for s in steps] == ["plan", "implement", "review", "verify"]
            assert {s["status"] for s in steps} == {"ok"}
            [review] = [s for s in steps if s["id"] == "review"]
            assert review["verdict"] == "APPROVE"
            assert review["worker"] == "reviewer"

    def test_cycle_table_artifact(self, cycle: CycleRun, prefect_reader: Any) -> None:
        """The cycle run has a table artifact with one row per task, both done."""
        [table] = [a for a in prefect_reader.artifacts(cycle.flow_run_id) if a.type == "table"]
        rows = json.loads(table.data) if isinstance(table.data, str) else table.data
        assert [(r["task"], r["status"]) for r in rows] == [
            ("task-01", "done"),
            ("task-02", "done"),
        ]


class TestOnDisk:
    """What the cycle left in the project."""

    def test_archived(self, cycle: CycleRun) -> None:
        """Both tasks are archived as `task-NN-<UTC stamp>.md` and the queue is empty."""
        orchestra = cycle.project / ".orchestra"
        names = sorted(p.name for p in (orchestra / "done").iterdir())
        assert len(names) == 2
        assert all(ARCHIVE_NAME.match(n) for n in names), names
        assert [n[:7] for n in names] == ["task-01", "task-02"]
        assert list((orchestra / "queue").iterdir()) == []
        assert [p.name for p in (orchestra / "running").iterdir()] == []

    def test_branches(self, cycle: CycleRun) -> None:
        """Each task's result is a branch orchestra/<task-id> in the project."""
        branches = git(
            cycle.project, "branch", "--list", "orchestra/*", "--format=%(refname:short)"
        )
        assert branches.split() == ["orchestra/task-01", "orchestra/task-02"]

    def test_checkout_untouched(self, cycle: CycleRun) -> None:
        """The user's checkout is byte for byte as before: status, HEAD, index, every file."""
        after = Checkout.of(cycle.project)
        assert after == cycle.before
        assert after.status == ""

    def test_no_worktrees_left(self, cycle: CycleRun) -> None:
        """No task clone and no git worktree is left behind."""
        worktrees = cycle.project / ".orchestra" / "worktrees"
        assert not worktrees.exists() or list(worktrees.iterdir()) == []
        listing = git(cycle.project, "worktree", "list", "--porcelain").splitlines()
        assert [line for line in listing if line.startswith("worktree ")] == [
            f"worktree {cycle.project}"
        ]

    def test_jsonl_log(self, cycle: CycleRun) -> None:
        """Every log line is JSON with exactly the contract's fields, timestamps in UTC (Z)."""
        lines = (cycle.project / ".orchestra" / "logs" / "orchestra.jsonl").read_text(
            encoding="utf-8"
        )
        entries = [json.loads(line) for line in lines.splitlines()]
        assert len(entries) > 10
        for entry in entries:
            assert LOG_FIELDS <= set(entry) <= LOG_FIELDS | CONTEXT_FIELDS, entry
            assert RFC3339_UTC.match(entry["timestamp"]), entry
            assert entry["level"] in LOG_LEVELS
            assert all(isinstance(v, str) for v in entry.values())
        steps = {e.get("step") for e in entries if e.get("task_id") == "task-01"}
        assert {"plan", "implement", "review", "verify"} <= steps

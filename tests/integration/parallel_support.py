"""A git project whose workers all run tests/fixtures/parallel_agent.py, for the parallel tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

AGENT = Path(__file__).resolve().parents[1] / "fixtures" / "parallel_agent.py"
WORKERS = ("planner", "architect", "coder", "reviewer", "fixer")


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def make_project(
    root: Path,
    *,
    parallel: int,
    env: dict[str, str],
    extra: str = "",
    verify: str = "test -s README.md",
    base: str | None = "integration",
    files: dict[str, str] | None = None,
) -> Path:
    """A git project whose workers run the parallel agent; tasks merge into branch ``base``
    (None: the checked-out `main`); ``files`` are committed with it."""
    root.mkdir(parents=True)
    command = json.dumps(
        [sys.executable, str(AGENT), "{prompt_file}", "{workspace}", "{output_dir}"]
    )
    lines = ["workers:"]
    for worker in WORKERS:
        lines += [
            f"  {worker}:",
            f"    role: {worker}",
            "    agent: command",
            "    runtime: process",
            f"    command: {command}",
            "    timeout: 120",
            f"    env: {json.dumps(env)}",
        ]
    lines += [
        "workflows:",
        "  infinite_orchestra:",
        f"    parallel: {parallel}",
        "    max_tasks_per_cycle: 10",
        "  roocode_boomerang:",
        "    steps:",
        "      - {id: plan, worker: architect}",
        "      - {id: implement, worker: coder}",
        "      - {id: review, worker: reviewer}",
        "git:",
        *([f"  base_branch: {base}"] if base else []),
        "  integration: merge",
        f"  verify: {json.dumps(verify)}",
    ]
    (root / "orchestra.yaml").write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    (root / "README.md").write_text("# parallel\n", encoding="utf-8")
    for name, text in (files or {}).items():
        (root / name).write_text(text, encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.com")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    git(root, "branch", "integration")
    return root


def enqueue(root: Path, count: int) -> list[str]:
    queue = root / ".orchestra" / "queue"
    queue.mkdir(parents=True, exist_ok=True)
    names = []
    for n in range(1, count + 1):
        (queue / f"task-{n}.md").write_text(
            f"---\ntitle: Task {n}\n---\n\n## Goal\n\nWrite task-{n}.txt.\n\n"
            "## Acceptance criteria\n\n- the file exists\n",
            encoding="utf-8",
        )
        names.append(f"task-{n}")
    return names


# The merge queue's case (test_merge_queue.py, test_pool_merge_queue.py): four tasks edit
# shared.txt; three append (overlapping), task-3 replaces line 1, task-4 cannot resolve.
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


def assert_landed(root: Path, target: str, tasks: list[dict[str, Any]], steps: int = 4) -> None:
    """Every change but task-4's is on ``target``; task-4 waits on its branch, files named.
    ``steps``: what each task ran before the queue (its workflow and verify)."""
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
    assert any(t["steps"] >= steps + 2 for t in (by_id["task-1"], by_id["task-2"])), tasks
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

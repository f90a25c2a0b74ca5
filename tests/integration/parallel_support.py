"""A git project whose workers all run tests/fixtures/parallel_agent.py, for the parallel tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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

"""A small real repository and the stand-in replies that take a real aider through one task.

The repository (``make_repo``) has history (three commits), code with a bug and its own test
suite (``python3 -m unittest``), which is the task's verify gate. :class:`AiderScript` answers
each step by the ``Role:`` line of Orchestra's prompt, as a model in aider's ``diff`` edit format
would: the architect plans, the coder fixes ``add`` with a SEARCH/REPLACE block, the first review
requests a docstring, the fixer adds it, the second review approves. Every reply ends with the
handoff headings.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

from support.chat_api import Recorded, Reply

API_KEY = "sk-test-standin"
MODEL = "openai/gpt-4o"

CALC_V1 = '''"""Arithmetic for the example project."""


def add(a, b):
    return a - b


def sub(a, b):
    return a - b
'''

TESTS = """import unittest

from calc import add, sub


class TestCalc(unittest.TestCase):
    def test_add(self):
        self.assertEqual(add(2, 3), 5)

    def test_sub(self):
        self.assertEqual(sub(5, 3), 2)


if __name__ == "__main__":
    unittest.main()
"""

TASK = """---
id: task-01
title: Fix add
verify: python3 -m unittest -q
---
## Goal

`add` in calc.py subtracts instead of adding: make it add.

## Acceptance criteria

- `python3 -m unittest` passes.
"""


def _git(repo: Path, *args: str) -> str:
    ident = [
        "-c",
        "user.name=Dev",
        "-c",
        "user.email=dev@example.com",
        "-c",
        "commit.gpgsign=false",
    ]
    out = subprocess.run(
        ["git", *ident, *args], cwd=repo, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def make_repo(path: Path, config: dict[str, Any]) -> Path:
    """The example repository at ``path``: three commits, ``orchestra.yaml`` = ``config``."""
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# calc\n\nA tiny calculator.\n", encoding="utf-8")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "Start calc")
    (path / "calc.py").write_text(CALC_V1, encoding="utf-8")
    (path / "test_calc.py").write_text(TESTS, encoding="utf-8")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "Add add, sub and their tests")
    (path / "orchestra.yaml").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (path / ".gitignore").write_text("orchestra.local.yaml\n__pycache__/\n", encoding="utf-8")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "Configure Orchestra")
    return path


def enqueue(repo: Path, text: str = TASK) -> Path:
    queue = repo / ".orchestra" / "queue"
    queue.mkdir(parents=True, exist_ok=True)
    task = queue / "task-01.md"
    task.write_text(text, encoding="utf-8")
    return task


def aider_workers(
    runtime: str, *, base_url: str, key: str = API_KEY, image: str | None = None, timeout: int = 180
) -> dict[str, Any]:
    """Every worker aider, on ``runtime``, pointed at the stand-in by env."""
    workers: dict[str, Any] = {}
    for role in ("planner", "architect", "coder", "reviewer", "fixer"):
        profile: dict[str, Any] = {
            "role": role,
            "agent": "aider",
            "model": MODEL,
            "runtime": runtime,
            "timeout": timeout,
            "env": {"OPENAI_API_BASE": base_url, "OPENAI_API_KEY": key},
        }
        if runtime == "docker":
            profile["docker"] = {"image": image}
        workers[role] = profile
    return workers


def project_config(workers: dict[str, Any]) -> dict[str, Any]:
    return {
        "workers": workers,
        "git": {"integration": "branch"},
        "memory": {"backend": "none"},
    }


def _handoff(summary: str, artifacts: str = "calc.py", next_: str = "review") -> str:
    return (
        f"## Summary\n{summary}\n\n## Actions\n- {summary}\n\n## Artifacts\n- {artifacts}\n\n"
        f"## Risks\n- none\n\n## Next\n- {next_}\n"
    )


PLAN = "Plan: in calc.py, `add` must return `a + b`.\n\n" + _handoff(
    "Planned the fix of add in calc.py.", next_="implement"
)

EDIT = (
    "I will fix `add`.\n\ncalc.py\n```python\n<<<<<<< SEARCH\ndef add(a, b):\n    return a - b\n"
    "=======\ndef add(a, b):\n    return a + b\n>>>>>>> REPLACE\n```\n\n"
    + _handoff("Fixed add in calc.py: it now returns a + b.")
)

REVIEW_CHANGES = _handoff(
    "add is right now but has no docstring.", next_="fix: add a docstring to add"
) + ("\nVerdict: CHANGES_REQUESTED\n")

FIX = (
    "calc.py\n```python\n<<<<<<< SEARCH\ndef add(a, b):\n    return a + b\n=======\n"
    'def add(a, b):\n    """The sum of a and b."""\n    return a + b\n>>>>>>> REPLACE\n```\n\n'
    + _handoff("Added the docstring the review asked for.")
)

REVIEW_APPROVE = _handoff("add is fixed and documented.", next_="merge") + "\nVerdict: APPROVE\n"

CALC_DONE = CALC_V1.replace(
    "def add(a, b):\n    return a - b\n",
    'def add(a, b):\n    """The sum of a and b."""\n    return a + b\n',
)


class AiderScript:
    """The stand-in's script: one reply per role, the reviewer's second answer approves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.roles: list[str] = []

    def __call__(self, request: Recorded) -> Reply:
        text = request.last_user_text
        role = next(
            (r for r in ("architect", "coder", "reviewer", "fixer") if f"Role: {r}" in text), ""
        )
        with self._lock:
            self.roles.append(role)
            reviews = self.roles.count("reviewer")
        reply = {
            "architect": PLAN,
            "coder": EDIT,
            "fixer": FIX,
            "reviewer": REVIEW_CHANGES if reviews == 1 else REVIEW_APPROVE,
        }.get(role, "I have nothing to do.")
        return Reply(reply, prompt_tokens=1200, completion_tokens=80)


def summary_of(state: Any) -> dict[str, Any]:
    """The cycle's summary, from a completed or a failed run (a failed one carries it in its
    RunFailed)."""
    from orchestra.errors import RunFailed

    result = state.result(raise_on_failure=False)
    return result.summary if isinstance(result, RunFailed) else result

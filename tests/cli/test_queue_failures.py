"""`orchestra queue` shows how often each task was tried and why it last failed: a task that
failed and went back to the queue looked just like a new one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestra.cli.app import app

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def test_a_requeued_task_shows_its_attempts_and_last_failure(
    prefect_api: str,
    demo_project: Path,
    demo_task: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.cycle import infinite_orchestra

    queue = demo_project / ".orchestra" / "queue"
    queue.mkdir(parents=True)
    (queue / "task-01.md").write_text(demo_task("multiply"), encoding="utf-8")
    (queue / "task-02.md").write_text(demo_task("divide"), encoding="utf-8")
    monkeypatch.setenv("DEMO_AGENT_FAIL_ROLE", "coder")
    state = infinite_orchestra(project=str(demo_project), max_tasks=1, return_state=True)
    assert state.is_failed(), state.message
    monkeypatch.delenv("DEMO_AGENT_FAIL_ROLE")

    result = CliRunner().invoke(
        app, ["queue", "--project", str(demo_project)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if "task-01.md" in line and "1 of" in line]
    assert "queue" in row
    assert "implement (coder) failed" in row, result.output
    assert "failing as coder on purpose" in row
    assert not [
        line for line in result.output.splitlines() if "task-02.md" in line and " of " in line
    ]

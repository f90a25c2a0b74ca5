"""A spending cap stops a step mid-way when its CLI streams usage: a stand-in ``claude`` (a real
process on PATH that prints Claude Code's stream-json events, then works for a while) run by the
real process runtime through the task engine. The real Claude Code against the stand-in API is
tests/integration/test_cap_mid_step_real_claude.py."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestra.engine.ledger import Ledger
from orchestra.engine.spending import SpendGuard
from orchestra.engine.step import StepContext, StepRecord, run_step
from orchestra.engine.task import run_task
from orchestra.project import open_project
from orchestra.queue.taskfile import parse_task
from orchestra.runtime.process import ProcessRuntime

MODEL = "claude-test"
PRICES = {MODEL: {"input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}}

#: Two model answers of 10,000 input tokens each ($0.03 at $3 per million), then 10 s of work
#: (a marker file when it is done), a third answer and the result line.
FAKE_CLAUDE = r"""#!/usr/bin/env python3
import json, sys, time
def say(event):
    print(json.dumps(event), flush=True)
def answer(n, text, tool):
    usage = {"input_tokens": 10000, "output_tokens": 5, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0}
    blocks = [{"type": "text", "text": text}, {"type": "tool_use", "id": f"t{n}", "name": tool,
              "input": {}}]
    for block in blocks:  # one event per content block, the answer's usage on each
        say({"type": "assistant", "session_id": "s", "message": {"id": f"msg_{n}",
             "model": "claude-test", "role": "assistant", "content": [block], "usage": usage}})
say({"type": "system", "subtype": "init", "session_id": "s", "model": "claude-test"})
answer(1, "Reading.", "Read")
say({"type": "user", "message": {"role": "user", "content": [{"type": "tool_result"}]}})
time.sleep(0.3)
answer(2, "Running the tests.", "Bash")
time.sleep(10)
open(sys.argv[0] + ".worked", "w").close()
answer(3, "Done.", "Write")
say({"type": "result", "subtype": "success", "is_error": False, "result": "Planned.",
     "total_cost_usd": 0.0905, "usage": {"input_tokens": 30000, "output_tokens": 15}})
"""


@pytest.fixture
def fake_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "claude"
    script.write_text(textwrap.dedent(FAKE_CLAUDE), encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return script


def configure(project: Path, limits: dict[str, Any]) -> None:
    overlay = {
        "workers": {"architect": {"agent": "claude", "model": MODEL}},
        "pricing": PRICES,
        "limits": limits,
    }
    (project / "orchestra.local.yaml").write_text(yaml.safe_dump(overlay), encoding="utf-8")


def run(project_dir: Path, task_file: Path, tmp_path: Path) -> Any:
    project = open_project(project_dir)
    runtime = ProcessRuntime(kill_grace=2.0)

    def runner(ctx: StepContext) -> StepRecord:
        return run_step(ctx, runtime)

    guard = SpendGuard(project, cycle="cycle-1")
    task = parse_task(task_file)
    return run_task(project, task, run_id="r", runner=runner, run_dir=tmp_path / "run", guard=guard)


@pytest.fixture
def task_file(demo_project: Path, demo_task: Any) -> Path:
    path = demo_project / "task-01.md"
    path.write_text(demo_task(), encoding="utf-8")
    return path


def test_a_day_cap_stops_the_step_when_its_next_request_would_cross_it(
    demo_project: Path, task_file: Path, tmp_path: Path, fake_claude: Path
) -> None:
    """$0.08 a day: after the second answer ($0.06) the next (about $0.03) would cross it, so
    the agent is killed while it works; the task stops as an operator stop; the ledger has the
    two answers' usage, priced from the table."""
    configure(demo_project, {"max_cost_per_day_usd": 0.08})
    outcome = run(demo_project, task_file, tmp_path)
    assert not Path(f"{fake_claude}.worked").exists(), "the agent was not stopped"
    assert outcome.kind == "operator", outcome
    assert "spending cap: stopped mid-step at $0.0602, 20,010 tokens" in outcome.reason
    assert "limits.max_cost_per_day_usd 0.08" in outcome.reason
    plan = outcome.steps[0]
    assert plan.status == "stopped" and plan.duration < 8, plan
    assert plan.output_tail == "Running the tests."  # the agent's last words, not JSON
    # Output: the stream's count (5) or the answer's length at 4 characters a token, if more
    # ("Running the tests." + "Bash" + "{}": 24 characters, 6 tokens).
    rows = Ledger(demo_project).rows()
    assert [(r.step, r.input_tokens, r.output_tokens, r.priced) for r in rows] == [
        ("plan", 20000, 5 + 6, "table")
    ]
    assert rows[0].cost_usd == pytest.approx(0.060165)


def test_a_token_cap_stops_it_too(
    demo_project: Path, task_file: Path, tmp_path: Path, fake_claude: Path
) -> None:
    """25,000 tokens a day: the second answer brings 20,010; the next would pass 25,000."""
    configure(demo_project, {"max_tokens_per_day": 25_000})
    outcome = run(demo_project, task_file, tmp_path)
    assert not Path(f"{fake_claude}.worked").exists()
    assert "limits.max_tokens_per_day 25,000" in outcome.reason, outcome.reason


def test_under_the_caps_the_step_runs_to_its_result(
    demo_project: Path, task_file: Path, tmp_path: Path, fake_claude: Path
) -> None:
    """A $1 day cap: the step finishes; its record has the result line's tokens and cost."""
    configure(demo_project, {"max_cost_per_day_usd": 1.0, "task_wall_clock": 60})
    outcome = run(demo_project, task_file, tmp_path)
    assert Path(f"{fake_claude}.worked").exists()
    plan = outcome.steps[0]
    assert plan.status == "ok", plan
    assert (plan.input_tokens, plan.output_tokens, plan.cost_usd) == (30000, 15, 0.0905)
    assert plan.output_tail == "Planned."
    assert json.loads((tmp_path / "run" / "01-plan" / "result.json").read_text())["cost_usd"]

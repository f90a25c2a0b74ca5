"""The usage ledger, its roll-ups and the governor in the task engine (scripted steps that report
usage): pricing from the table, unpriced models named, caps at a step boundary, reservations of
running steps, failover to a profile's fallbacks keeping the steps already done."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from orchestra.cli.app import app
from orchestra.engine.ledger import Ledger, row_of
from orchestra.engine.settle import outcome_row
from orchestra.engine.spending import SpendGuard
from orchestra.engine.step import StepContext, StepRecord
from orchestra.engine.task import run_task
from orchestra.engine.usage import rollup
from orchestra.project import open_project
from orchestra.queue.taskfile import parse_task
from orchestra.testing import ScriptedRunner

PLAN = "## Summary\nplan it\n"
CODED = "## Summary\ncoded\n"
APPROVE = "## Summary\nlooks good\n\nVerdict: APPROVE\n"
NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@dataclass
class PricedRunner:
    """Scripted steps that report what a CLI would: tokens, and a cost unless ``cost`` is None."""

    script: ScriptedRunner
    cost: float | None = 0.10
    tokens: tuple[int, int] = (1000, 100)
    seen: list[str] = field(default_factory=list)

    def __call__(self, ctx: StepContext) -> StepRecord:
        record = self.script(ctx)
        self.seen.append(f"{ctx.step_id}:{ctx.worker_id}")
        if ctx.verify_command is not None:
            return record
        sent, received = self.tokens
        return dataclasses.replace(
            record, input_tokens=sent, output_tokens=received, cost_usd=self.cost
        )


def overlay(project: Path, data: dict[str, Any]) -> None:
    (project / "orchestra.local.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")


@pytest.fixture
def task_file(demo_project: Path, demo_task: Any) -> Path:
    path = demo_project / "task-01.md"
    path.write_text(demo_task(), encoding="utf-8")
    return path


def run(project_dir: Path, task_file: Path, runner: Any, tmp_path: Path) -> Any:
    project = open_project(project_dir)
    guard = SpendGuard(project, cycle="cycle-1", clock=lambda: NOON)
    task = parse_task(task_file)
    return run_task(project, task, run_id="r", runner=runner, run_dir=tmp_path / "run", guard=guard)


def test_every_agent_step_goes_into_the_ledger(
    demo_project: Path, task_file: Path, tmp_path: Path
) -> None:
    runner = PricedRunner(ScriptedRunner([PLAN, CODED, APPROVE, "ok"]))
    outcome = run(demo_project, task_file, runner, tmp_path)
    assert outcome.status == "done", outcome.reason
    rows = Ledger(demo_project).rows()
    assert [r.step for r in rows] == ["plan", "implement", "review"]  # verify is ours
    assert {r.cycle for r in rows} == {"cycle-1"} and {r.day for r in rows} == {"2026-12-07"}
    assert rows[0].priced == "reported" and rows[0].cost_usd == pytest.approx(0.10)
    assert rows[0].cli == "command"


def test_tokens_only_are_priced_from_the_table_and_unpriced_models_said_so(
    demo_project: Path, task_file: Path, tmp_path: Path
) -> None:
    """A CLI that reports no cost: the `pricing:` table prices its model; a model not in it
    is unpriced (cost None), and the roll-up counts it apart, not as $0."""
    overlay(
        demo_project,
        {
            "workers": {"coder": {"model": "priced-model"}},
            "pricing": {"priced-model": {"input_usd_per_mtok": 2.0, "output_usd_per_mtok": 10.0}},
        },
    )
    runner = PricedRunner(ScriptedRunner([PLAN, CODED, APPROVE, "ok"]), cost=None)
    run(demo_project, task_file, runner, tmp_path)
    rows = Ledger(demo_project).rows()
    coder = next(r for r in rows if r.worker == "coder")
    assert coder.priced == "table"
    assert coder.cost_usd == pytest.approx((1000 * 2.0 + 100 * 10.0) / 1e6)
    others = [r for r in rows if r.worker != "coder"]
    assert {r.priced for r in others} == {"unpriced"} and all(r.cost_usd is None for r in others)
    by_worker = {item["worker"]: item for item in rollup(rows, "worker")}
    assert by_worker["architect"]["unpriced_steps"] == 1
    assert by_worker["architect"]["cost_usd"] == 0  # the total leaves it out and says so
    assert by_worker["coder"]["unpriced_steps"] == 0


def test_a_task_cap_stops_at_the_next_step_without_an_attempt(
    demo_project: Path, task_file: Path, tmp_path: Path
) -> None:
    """$0.10 a step, a $0.25 task cap: plan and implement run; the review would cross it."""
    overlay(demo_project, {"limits": {"max_cost_per_task_usd": 0.25}})
    runner = PricedRunner(ScriptedRunner([PLAN, CODED, APPROVE, "ok"]))
    outcome = run(demo_project, task_file, runner, tmp_path)
    assert runner.seen == ["plan:architect", "implement:coder"]
    assert outcome.status == "failed" and outcome.kind == "operator", outcome
    assert "max_cost_per_task_usd 0.25" in outcome.reason


def test_a_day_cap_counts_every_task_of_the_day(
    demo_project: Path, task_file: Path, tmp_path: Path
) -> None:
    """$0.95 already spent today by other tasks, a $1 day cap: no step of this one starts."""
    overlay(demo_project, {"limits": {"max_cost_per_day_usd": 1.0}})
    project = open_project(demo_project)
    earlier = StepRecord(
        "t0", "plan", "Plan", "architect", "ok", 1.0, None, "", "", None, 10, 10, 0.95
    )
    Ledger(demo_project).append(
        [
            row_of(
                earlier,
                profiles=project.config.workers,
                pricing={},
                cycle="c0",
                host="h",
                time_zone="UTC",
                now=NOON,
            )
        ]
    )
    runner = PricedRunner(ScriptedRunner([PLAN]))
    outcome = run(demo_project, task_file, runner, tmp_path)
    assert runner.seen == []
    assert outcome.kind == "operator" and "max_cost_per_day_usd 1" in outcome.reason


def test_running_steps_hold_their_estimate_so_parallel_tasks_stop_in_time(
    demo_project: Path,
) -> None:
    """Cap $2.50, $1 recorded, so a step is estimated at $1: one step may start; a second,
    alongside it, may not ($1 + $1 running + $1 > $2.50); once the first is recorded ($2),
    still none may."""
    overlay(demo_project, {"limits": {"max_cost_per_day_usd": 2.5}})
    project = open_project(demo_project)
    guard = SpendGuard(project, cycle="c", clock=lambda: NOON)
    done = StepRecord("t0", "plan", "Plan", "architect", "ok", 1.0, None, "", "", None, 10, 10, 1.0)
    guard.after_step(0, done)
    first, handle = guard.before_step("coder", guard_spend())
    assert first == "" and handle
    second, _ = guard.before_step("coder", guard_spend())
    assert "max_cost_per_day_usd 2.5" in second
    guard.after_step(handle, dataclasses.replace(done, task_id="t1"))
    assert guard.claim_stop() == ""
    assert "max_cost_per_day_usd 2.5" in guard.before_step("coder", guard_spend())[0]


def guard_spend() -> Any:
    from orchestra.policy.governor import Spend

    return Spend()


def test_failover_runs_the_step_again_with_the_fallback_and_keeps_earlier_steps(
    demo_project: Path, task_file: Path, tmp_path: Path
) -> None:
    """The coder's model API answers 429: the implement step runs again at once with
    coder-b; plan is not run again; the outcome says who did the work; the provider cools
    down for the wait the message named."""
    config = yaml.safe_load((demo_project / "orchestra.yaml").read_text(encoding="utf-8"))
    coder_b = dict(config["workers"]["coder"]) | {"env": {"OPENAI_BASE_URL": "http://b.test/v1"}}
    coder_b["model"] = "model-b"
    overlay(
        demo_project,
        {
            "workers": {"coder": {"fallback": ["coder-b"], "model": "model-a"}, "coder-b": coder_b},
            "tasks": {"default_model_policy": "sticky"},
        },
    )
    failed = ("failed", "429 Too Many Requests: rate limit reached, try again in 30s")
    runner = PricedRunner(ScriptedRunner([PLAN, failed, CODED, APPROVE, "ok"]))
    outcome = run(demo_project, task_file, runner, tmp_path)
    assert outcome.status == "done", outcome.reason
    assert runner.seen[:4] == [
        "plan:architect",
        "implement:coder",
        "implement:coder-b",
        "review:reviewer",
    ]
    assert outcome_row(outcome)["failover"] == ["implement: coder → coder-b (rate_limited)"]
    models = {c.worker_id: c.model for c in runner.script.contexts}
    assert models["coder-b"] == "model-b"  # its own model, not the sticky one
    cooled = json.loads((demo_project / ".orchestra" / "providers.json").read_text())
    (provider,) = cooled
    assert provider.startswith("command@")
    left = cooled[provider]["until"] - datetime.now(UTC).timestamp()
    assert 20 < left <= 30


def test_no_fallback_left_is_an_outage(demo_project: Path, task_file: Path, tmp_path: Path) -> None:
    config = yaml.safe_load((demo_project / "orchestra.yaml").read_text(encoding="utf-8"))
    coder_b = dict(config["workers"]["coder"]) | {"env": {"OPENAI_BASE_URL": "http://b.test/v1"}}
    overlay(demo_project, {"workers": {"coder": {"fallback": ["coder-b"]}, "coder-b": coder_b}})
    down = ("failed", "529 overloaded_error: Overloaded")
    runner = PricedRunner(ScriptedRunner([PLAN, down, down]))
    outcome = run(demo_project, task_file, runner, tmp_path)
    assert runner.seen == ["plan:architect", "implement:coder", "implement:coder-b"]
    assert outcome.kind == "infrastructure", outcome


def test_usage_command_rolls_up_and_prints_json(demo_project: Path) -> None:
    project = open_project(demo_project)
    rows = []
    for task, model, cost in (("t1", "m1", 0.5), ("t2", "m1", 0.25), ("t2", "m2", None)):
        record = StepRecord(
            task, "plan", "Plan", "architect", "ok", 30.0, None, "", "", model, 100, 10, cost
        )
        rows.append(
            row_of(
                record,
                profiles=project.config.workers,
                pricing={},
                cycle="c",
                host="h",
                time_zone="UTC",
                now=NOON,
            )
        )
    Ledger(demo_project).append(rows)
    cli = CliRunner()
    out = cli.invoke(app, ["usage", "-p", str(demo_project), "--by", "model", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    by = {r["model"]: r for r in data["rows"]}
    assert by["m1"]["cost_usd"] == pytest.approx(0.75) and by["m1"]["steps"] == 2
    assert by["m2"]["unpriced_steps"] == 1
    table = cli.invoke(app, ["usage", "-p", str(demo_project), "--by", "task"])
    assert "t2" in table.output and "1 unpriced" in table.output, table.output
    assert "(m2)" in table.output
    bad = cli.invoke(app, ["usage", "-p", str(demo_project), "--by", "planet"])
    assert bad.exit_code == 2 and "'planet'" in bad.output
    later = cli.invoke(app, ["usage", "-p", str(demo_project), "--since", "2026-12-08", "--json"])
    assert json.loads(later.output)["rows"] == []


def test_a_fallback_on_the_provider_that_failed_is_skipped(
    demo_project: Path, task_file: Path, tmp_path: Path
) -> None:
    config = yaml.safe_load((demo_project / "orchestra.yaml").read_text(encoding="utf-8"))
    same = config["workers"]["coder"]
    overlay(demo_project, {"workers": {"coder": {"fallback": ["coder-b"]}, "coder-b": same}})
    runner = PricedRunner(ScriptedRunner([PLAN, ("failed", "529 overloaded_error: Overloaded")]))
    outcome = run(demo_project, task_file, runner, tmp_path)
    assert runner.seen == ["plan:architect", "implement:coder"]
    assert outcome.kind == "infrastructure", outcome


def test_a_pool_workers_usage_comes_back_for_the_cycles_ledger(
    demo_project: Path, task_file: Path, tmp_path: Path
) -> None:
    """The worker writes no ledger (write=False); its outcome carries each step's usage, which
    the cycle turns into rows of its own cycle, with the worker's host."""
    from orchestra.engine.ledger import rows_from_outcome
    from orchestra.engine.pooljob import worker_outcome

    project = open_project(demo_project)
    guard = SpendGuard(project, cycle="cycle-9", write=False, clock=lambda: NOON)
    runner = PricedRunner(ScriptedRunner([PLAN, CODED, APPROVE, "ok"]))
    outcome = run_task(
        project,
        parse_task(task_file),
        run_id="w",
        runner=runner,
        run_dir=tmp_path / "run",
        guard=guard,
    )
    assert Ledger(demo_project).rows() == []
    sent = json.loads(json.dumps(worker_outcome(outcome, "report")))
    rows = rows_from_outcome(
        sent, profiles=project.config.workers, pricing={}, cycle="cycle-9", time_zone="UTC"
    )
    assert [r.step for r in rows] == ["plan", "implement", "review"]
    assert {r.cycle for r in rows} == {"cycle-9"} and {r.host for r in rows} == {outcome.host}
    assert sum(r.cost_usd or 0 for r in rows) == pytest.approx(0.30)


def test_a_used_up_window_sends_steps_to_the_fallback_and_stops_claims_when_none_is_left(
    demo_project: Path, task_file: Path, tmp_path: Path
) -> None:
    config = yaml.safe_load((demo_project / "orchestra.yaml").read_text(encoding="utf-8"))
    coder_b = dict(config["workers"]["coder"]) | {"env": {"OPENAI_BASE_URL": "http://b.test/v1"}}
    window = {"hours": 5, "max_requests": 1}
    overlay(
        demo_project,
        {"workers": {"coder": {"fallback": ["coder-b"], "window": window}, "coder-b": coder_b}},
    )
    project = open_project(demo_project)
    now = datetime.now(UTC)
    guard = SpendGuard(project, cycle="c", clock=lambda: now)
    earlier = StepRecord("t0", "implement", "I", "coder", "ok", 60.0, None, "", "", None, 1, 1, 0.0)
    guard.after_step(0, earlier)
    assert guard.window_claim_stop() == ""  # coder-b can still do it
    runner = PricedRunner(ScriptedRunner([PLAN, CODED, APPROVE, "ok"]))
    outcome = run_task(
        project,
        parse_task(task_file),
        run_id="r",
        runner=runner,
        run_dir=tmp_path / "run",
        guard=guard,
    )
    assert "implement:coder-b" in runner.seen and "implement:coder" not in runner.seen
    assert outcome.status == "done", outcome.reason
    overlay(demo_project, {"workers": {"coder": {"window": window}}})
    reason = SpendGuard(
        open_project(demo_project), cycle="c", clock=lambda: now
    ).window_claim_stop()
    assert "usage window of coder used up" in reason and "frees at" in reason, reason


def test_the_ledger_keeps_a_file_per_month_and_reads_only_what_is_asked(demo_project: Path) -> None:
    project = open_project(demo_project)
    record = StepRecord("t", "plan", "Plan", "architect", "ok", 1.0, None, "", "", "m", 10, 1, 0.1)
    rows = [
        row_of(
            record,
            profiles=project.config.workers,
            pricing={},
            cycle="c",
            host="h",
            time_zone="Europe/Berlin",
            now=moment,
        )
        for moment in (
            datetime(2026, 11, 30, 23, 30, tzinfo=UTC),  # 1 December in Berlin
            datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
            datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
        )
    ]
    ledger = Ledger(demo_project)
    ledger.append(rows)
    names = sorted(p.name for p in ledger.folder.iterdir())
    assert names == ["ledger-2026-11.jsonl", "ledger-2026-12.jsonl"]
    assert [r.day for r in ledger.rows(since_day="2026-12-01")] == ["2026-12-01", "2026-12-07"]
    assert len(ledger.rows()) == 3


def test_a_pool_worker_holds_the_task_cap_without_the_ledger(
    demo_project: Path, task_file: Path, tmp_path: Path
) -> None:
    """On a pool worker (no ledger) the task's own dearest step is the estimate: with $0.10
    steps and a $0.25 cap the review does not start ($0.20 + $0.10 would cross it)."""
    overlay(demo_project, {"limits": {"max_cost_per_task_usd": 0.25}})
    project = open_project(demo_project)
    guard = SpendGuard(project, cycle="c", write=False, clock=lambda: NOON)
    runner = PricedRunner(ScriptedRunner([PLAN, CODED, APPROVE, "ok"]))
    outcome = run_task(
        project,
        parse_task(task_file),
        run_id="w",
        runner=runner,
        run_dir=tmp_path / "r",
        guard=guard,
    )
    assert runner.seen == ["plan:architect", "implement:coder"]
    assert outcome.kind == "operator" and "max_cost_per_task_usd 0.25" in outcome.reason


def test_a_pool_worker_holds_the_day_cap_against_the_ledger_at_its_claim(
    demo_project: Path, demo_task: Any, tmp_path: Path
) -> None:
    """$0.75 in the cycle's ledger today and a $1 day cap: the job carries the $0.75 to the
    worker (no ledger there), whose $0.10 steps stop before the review ($0.95 + $0.10)."""
    from orchestra.engine.pooljob import PoolJob, day_base, job_for

    overlay(demo_project, {"limits": {"max_cost_per_day_usd": 1.0}})
    project = open_project(demo_project)
    earlier = StepRecord(
        "t0", "plan", "Plan", "architect", "ok", 1.0, None, "", "", None, 9, 9, 0.75
    )
    SpendGuard(project, cycle="c0").after_step(0, earlier)
    queued = project.layout.queue / "task-1.md"
    queued.parent.mkdir(parents=True, exist_ok=True)
    queued.write_text(demo_task("multiply"), encoding="utf-8")
    claimed = project.queue.claim(queued, run_id="c1")
    assert claimed is not None
    job = PoolJob.from_params(
        job_for(project, claimed, "file:///r.git", "main", "0" * 40, "c1").to_params()
    )
    assert job.day_spent == {"cost": 0.75, "tokens": 18.0}
    guard = SpendGuard(project, cycle="c1", write=False, day_base=day_base(job))
    runner = PricedRunner(ScriptedRunner([PLAN, CODED, APPROVE, "ok"]))
    outcome = run_task(
        project, claimed.task, run_id="w", runner=runner, run_dir=tmp_path / "r", guard=guard
    )
    assert runner.seen == ["plan:architect", "implement:coder"]
    assert outcome.kind == "operator" and "max_cost_per_day_usd 1" in outcome.reason

"""The spending governor and failover under ``parallel: 4``, with the real Codex CLI against the
stand-in Responses API (tests/support/responses_api.py), which reports tokens; the ledger prices
them from a ``pricing:`` table (codex prints no cost).

Two cycles, each on a fresh copy of the calc repository with its own ``TASKS`` tasks, against a
standalone ``prefect server`` (SQLite):

- **cap**: ``limits.max_cost_per_day_usd`` set to ``CAP_USD``. The cycle claims four tasks at
  once; before each step the governor checks today's ledger plus the estimates of the steps
  running. Measured: what the ledger says was spent, the dearest step, how far the spending
  ended from the cap (target: within one step's cost), the tasks that went back to the queue
  and the attempts they were charged (target: 0).
- **cap-claude**: the same day cap with the real Claude Code against the stand-in Messages API
  (``CLAUDE_CAP_USD``; its usage priced at $3/$15 per million tokens). Claude Code streams its
  usage, so a step is also stopped mid-way once its next request would cross the cap. Measured:
  spent against the cap, in requests of the dearest request and in steps of the dearest step,
  the steps stopped mid-way, the attempts charged (target: 0).
- **outage**: every worker has a fallback profile on a second stand-in (another provider).
  After ``OUTAGE_AFTER`` model requests the first provider answers every request with 529
  (overloaded). Measured: tasks archived, steps that failed over, steps each provider did, and
  attempts lost (target: 0).

Run: ``python bench/bench_governor.py`` (prints JSON). Needs ``make codex claude``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from support.messages_api import MessagesAPI  # noqa: E402
from support.model_api import Exchange, Fault, Turn  # noqa: E402
from support.real_agent import TASK, make_repo, project_config  # noqa: E402
from support.real_clis import (  # noqa: E402
    CLAUDE_KEY,
    CLAUDE_MODEL,
    CODEX_KEY,
    CODEX_MODEL,
    TOOLS,
    claude_env,
    codex_env,
    workers,
)
from support.real_sessions import claude_session, codex_session, role_of  # noqa: E402
from support.responses_api import ResponsesAPI  # noqa: E402

TASKS = 8
PARALLEL = 4
CAP_USD = 0.08
OUTAGE_AFTER = 12
PRICES = {CODEX_MODEL: {"input_usd_per_mtok": 1.25, "output_usd_per_mtok": 10.0}}
CLAUDE_CAP_USD = 0.12
CONTEXT_TOKENS = 1200
CLAUDE_PRICE = (3.0, 15.0)
CLAUDE_PRICES = {
    CLAUDE_MODEL: {"input_usd_per_mtok": CLAUDE_PRICE[0], "output_usd_per_mtok": CLAUDE_PRICE[1]}
}
ROLES = ("architect", "coder", "reviewer", "fixer")


def _env(base: Path) -> None:
    """PATH with only the two CLIs added, a HOME of the bench's own."""
    folder = base / "bin"
    folder.mkdir()
    for name in ("codex", "claude"):
        (folder / name).symlink_to((TOOLS / name / "bin" / name).resolve())
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ['PATH']}"
    home = base / "home"
    home.mkdir()
    os.environ["HOME"] = str(home)


def _project(root: Path, config: dict[str, Any]) -> Path:
    wf = {"parallel": PARALLEL, "max_tasks_per_cycle": TASKS}
    config["workflows"] = {"infinite_orchestra": wf}
    project = make_repo(root, config)
    queue = project / ".orchestra" / "queue"
    queue.mkdir(parents=True, exist_ok=True)
    for n in range(1, TASKS + 1):
        text = TASK.replace("id: task-01", f"id: task-{n:02d}")
        (queue / f"task-{n:02d}.md").write_text(text, encoding="utf-8")
    return project


def _attempts(project: Path) -> int:
    """Attempts charged to tasks back in the queue or in failed/."""
    import yaml

    total = 0
    for folder in ("queue", "failed"):
        for path in (project / ".orchestra" / folder).glob("task-*.md"):
            front = yaml.safe_load(path.read_text(encoding="utf-8").split("---\n", 2)[1]) or {}
            total += int(front.get("attempts") or 0)
    return total


def _cycle(project: Path) -> dict[str, Any]:
    from flows.cycle import infinite_orchestra
    from orchestra.errors import RunFailed

    started = time.monotonic()
    state = infinite_orchestra(project=str(project), return_state=True)
    result = state.result(raise_on_failure=False)
    data = result.summary if isinstance(result, RunFailed) else result
    data["wall_s"] = round(time.monotonic() - started, 1)
    return dict(data)


def cap_run(base: Path) -> dict[str, Any]:
    from orchestra.engine.ledger import Ledger

    with ResponsesAPI(codex_session(), api_key=CODEX_KEY) as api:
        config = project_config(workers("codex", codex_env(api), CODEX_MODEL))
        config |= {"pricing": PRICES, "limits": {"max_cost_per_day_usd": CAP_USD}}
        project = _project(base / "cap", config)
        data = _cycle(project)
    rows = Ledger(project).rows()
    spent = sum(r.cost_usd or 0.0 for r in rows)
    dearest = max((r.cost_usd or 0.0 for r in rows), default=0.0)
    return {
        "cap_usd": CAP_USD,
        "spent_usd": round(spent, 5),
        "steps": len(rows),
        "dearest_step_usd": round(dearest, 5),
        "over_cap_usd": round(spent - CAP_USD, 5),
        "within_one_step": abs(spent - CAP_USD) <= dearest,
        "archived": sum(1 for t in data["tasks"] if t.get("status") == "done"),
        "requeued": sum(1 for t in data["tasks"] if t.get("kind") == "operator"),
        "attempts_charged": _attempts(project),
        "stop_reason": str(data.get("stop_reason", ""))[:200],
        "headline": str(data.get("headline", ""))[:300],
        "wall_s": data["wall_s"],
    }


class ClaudeSession:
    """The scripted Claude Code session with usage shaped like a real one: the input grows by
    ``CONTEXT_TOKENS`` a turn (the conversation is sent again, longer), the output is the
    answer's length at 4 characters a token. A step of many turns (the coder's five) then costs
    several times one of two (the architect's), more than the estimate it starts with."""

    def __init__(self) -> None:
        self.session = claude_session()

    def __call__(self, exchange: Exchange) -> Turn:
        turn = self.session(exchange)
        calls = sum(len(c.name) + len(json.dumps(c.arguments)) for c in turn.tools)
        return dataclasses.replace(
            turn,
            input_tokens=CONTEXT_TOKENS * (exchange.model_turns + 1),
            output_tokens=max(1, -(-(len(turn.text) + calls) // 4)),
        )


def claude_cap_run(base: Path) -> dict[str, Any]:
    from orchestra.engine.ledger import Ledger

    with MessagesAPI(ClaudeSession(), api_key=CLAUDE_KEY) as api:
        config = project_config(workers("claude", claude_env(api), CLAUDE_MODEL))
        config |= {"pricing": CLAUDE_PRICES, "limits": {"max_cost_per_day_usd": CLAUDE_CAP_USD}}
        project = _project(base / "cap-claude", config)
        data = _cycle(project)
        turns = [e.turn for e in api.message_exchanges if e.turn and role_of(e.text)]
    rows = Ledger(project).rows()
    spent = sum(r.cost_usd or 0.0 for r in rows)
    dearest = max((r.cost_usd or 0.0 for r in rows), default=0.0)
    per_mtok_in, per_mtok_out = CLAUDE_PRICE
    request = max(
        (t.input_tokens * per_mtok_in + t.output_tokens * per_mtok_out) / 1e6 for t in turns
    )
    mid_step = [t for t in data["tasks"] if "stopped mid-step" in str(t.get("reason"))]
    return {
        "cap_usd": CLAUDE_CAP_USD,
        "spent_usd": round(spent, 5),
        "steps": len(rows),
        "requests": len(turns),
        "dearest_step_usd": round(dearest, 5),
        "dearest_request_usd": round(request, 5),
        "over_cap_usd": round(spent - CLAUDE_CAP_USD, 5),
        "distance_in_steps": round(abs(spent - CLAUDE_CAP_USD) / dearest, 2) if dearest else 0,
        "distance_in_requests": round(abs(spent - CLAUDE_CAP_USD) / request, 2),
        "stopped_mid_step": len(mid_step),
        "archived": sum(1 for t in data["tasks"] if t.get("status") == "done"),
        "requeued": sum(1 for t in data["tasks"] if t.get("kind") == "operator"),
        "attempts_charged": _attempts(project),
        "stop_reason": str(data.get("stop_reason", ""))[:300],
        "mid_step_reasons": [str(t.get("reason"))[:300] for t in mid_step],
        "headline": str(data.get("headline", ""))[:300],
        "wall_s": data["wall_s"],
    }


class Outage:
    """The first provider's script: the session until ``after`` model requests, then 529s."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.session = codex_session()
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, exchange: Exchange) -> Turn:
        with self.lock:
            self.count += 1
            down = self.count > self.after
        return (
            Turn(fault=Fault(status=529, message="Overloaded")) if down else self.session(exchange)
        )


def outage_run(base: Path) -> dict[str, Any]:
    from orchestra.engine.ledger import Ledger

    first = ResponsesAPI(Outage(OUTAGE_AFTER), api_key=CODEX_KEY)
    with first, ResponsesAPI(codex_session(), api_key=CODEX_KEY) as second:
        found = workers("codex", codex_env(first), CODEX_MODEL)
        for role, profile in workers("codex", codex_env(second), CODEX_MODEL).items():
            found[f"{role}-b"] = profile
            found[role]["fallback"] = [f"{role}-b"]
        config = project_config(found) | {"pricing": PRICES}
        project = _project(base / "outage", config)
        data = _cycle(project)
    rows = Ledger(project).rows()
    failed_over = [f for t in data["tasks"] for f in t.get("failover") or []]
    return {
        "tasks": TASKS,
        "archived": sum(1 for t in data["tasks"] if t.get("status") == "done"),
        "failed": sum(1 for t in data["tasks"] if t.get("status") != "done"),
        "steps_failed_over": len(failed_over),
        "steps_first_provider": sum(1 for r in rows if not r.worker.endswith("-b")),
        "steps_fallback_provider": sum(1 for r in rows if r.worker.endswith("-b")),
        "attempts_lost": _attempts(project),
        "headline": str(data.get("headline", ""))[:300],
        "wall_s": data["wall_s"],
    }


def run() -> dict[str, Any]:
    """Both cycles; the metric is how far the day cap's spending ended from the cap, in steps."""
    from orchestra.prefect.standalone import prefect_server

    base = Path(tempfile.mkdtemp(prefix="bench-governor-"))
    saved = dict(os.environ)
    try:
        _env(base)
        os.environ["PREFECT_HOME"] = str(base / "prefect-home")
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
        with prefect_server(base / "server-home") as api:
            os.environ["PREFECT_API_URL"] = api
            cap = cap_run(base)
            claude = claude_cap_run(base)
            outage = outage_run(base)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(base, ignore_errors=True)
    steps_off = abs(cap["over_cap_usd"]) / cap["dearest_step_usd"] if cap["dearest_step_usd"] else 0
    return {
        "cap_distance_in_steps": round(steps_off, 2),
        "attempts_lost": cap["attempts_charged"]
        + claude["attempts_charged"]
        + outage["attempts_lost"],
        "cap_usd": cap["cap_usd"],
        "spent_usd": cap["spent_usd"],
        "dearest_step_usd": cap["dearest_step_usd"],
        "outage_archived": outage["archived"],
        "steps_failed_over": outage["steps_failed_over"],
        "claude_cap_usd": claude["cap_usd"],
        "claude_spent_usd": claude["spent_usd"],
        "claude_dearest_request_usd": claude["dearest_request_usd"],
        "claude_distance_in_steps": claude["distance_in_steps"],
        "claude_stopped_mid_step": claude["stopped_mid_step"],
        "cap": cap,
        "claude": claude,
        "outage": outage,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

"""Run one step: render the prompt, build the agent's argv/env, run it, read its handoff.

Plain functions; the flows wrap :func:`run_step` in a Prefect task so each step is a task run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from loguru import logger

from orchestra.agents import (
    HANDOFF_FILE,
    AgentOutcome,
    FailureKind,
    Invocation,
    adapter,
    allowed_env,
    build_invocation,
    parse_outcome,
)
from orchestra.agents.codex import CODEX_LAST_MESSAGE
from orchestra.agents.credentials import credential_hint
from orchestra.agents.endpoints import host_port, model_endpoints
from orchestra.config.models import WRITING_ROLES, WorkerProfile
from orchestra.engine.clistate import prepare_state
from orchestra.engine.handoff import Handoff, Verdict, parse_handoff
from orchestra.engine.livecap import LiveCap, UsageCheck
from orchestra.engine.prompting import render_prompt
from orchestra.engine.stall import STALL_SECONDS, StallWatch
from orchestra.engine.steplog import OUTPUT_FILE, StepOutputLog
from orchestra.paths import private_dirs, remove_tree, write_own_file
from orchestra.queue.claims import owner_label
from orchestra.runtime import (
    LABEL_OWNER,
    LABEL_STEP,
    LABEL_TASK,
    AgentView,
    LineSink,
    StepRequest,
    StopCheck,
    WorkerRuntime,
)
from orchestra.secrets import redact, register_secrets

_URL = re.compile(r"https?://[^\s\"'<>]+")

StepStatus = Literal["ok", "failed", "timeout", "stopped"]


@dataclass(frozen=True)
class StepContext:
    """Everything needed to run one step of one task (or the planner)."""

    project_id: str
    run_id: str
    task_id: str
    step_id: str
    title: str
    worker_id: str
    profile: WorkerProfile
    prompt_name: str
    workspace: Path
    output_dir: Path
    timeout: float
    model: str | None
    values: Mapping[str, str] = field(default_factory=dict)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    verify_command: str | None = None
    """When set, this is the verification gate: run the command instead of an agent."""
    objects_dir: Path | None = None
    """The user's object folder the agent's `.git` borrows from (read-only in Docker)."""
    log_head: int = 40
    """Output lines sent to the logs from the start (logging.agent_head_lines)."""
    log_tail: int = 40
    """Output lines sent to the logs from the end (logging.agent_tail_lines)."""
    log_every_line: bool = False
    """ui.debug: every output line goes to the logs."""
    stall_limit: float = STALL_SECONDS
    """Seconds an agent may print nothing but "reconnecting" before it is stopped."""
    usage_check: UsageCheck | None = None
    """The spending governor's check of the usage the agent streams (engine/livecap.py); None:
    no cap is set, or the step's caps were checked before it started only."""


@dataclass
class StepRecord:
    """What one step did; goes into the task's report and artifact."""

    task_id: str
    step: str
    title: str
    worker: str
    status: StepStatus
    duration: float
    verdict: Verdict | None
    output_tail: str
    message: str
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    handoff: Handoff = field(default_factory=Handoff)
    failure: FailureKind | None = None
    """The adapter's reading of a failed step (auth, unreachable, ...); None when ok."""

    @property
    def ok(self) -> bool:
        """The step finished and its agent reported success."""
        return self.status == "ok"

    def to_json(self) -> dict[str, object]:
        """A JSON-friendly view (handoff flattened)."""
        data = asdict(self)
        data["handoff"] = asdict(self.handoff)
        return data


def step_env(
    profile: WorkerProfile,
    view: AgentView,
    adapter_env: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The agent's environment, later wins: what the runtime gives every step (PATH and HOME
    natively) and `pass_env` → the adapter's own (state dirs) → the profile's `env`."""
    source = os.environ if environ is None else environ
    env = view.base_env(source)
    passed = allowed_env(source, list(profile.pass_env))
    register_secrets(passed.values())
    register_secrets(profile.env.values())
    env.update(passed)
    env.update(adapter_env or {})
    env.update(profile.env)
    return env


def egress_hosts(urls: list[str], view: AgentView) -> tuple[str, ...]:
    """``host:port`` of each of ``urls`` (the model APIs the step's agent calls) as the step
    names it: what a runtime that filters egress must let through (the profile may allow
    more)."""
    seen = (view.url(url) for url in urls)
    return tuple(dict.fromkeys(hp for url in seen if url and (hp := host_port(url))))


def settings_urls(invocation: Invocation) -> list[str]:
    """URLs in the settings files the adapter writes for the CLI (codex's provider base_url)."""
    return [m.group(0) for text in invocation.state_files.values() for m in _URL.finditer(text)]


def _status(outcome: AgentOutcome, timed_out: bool, stopped: str | None) -> StepStatus:
    if stopped:
        return "stopped"
    if timed_out:
        return "timeout"
    return "ok" if outcome.ok else "failed"


def _invocation(ctx: StepContext, view: AgentView, env: Mapping[str, str]) -> Invocation:
    if ctx.verify_command is not None:
        return Invocation(argv=["/bin/sh", "-c", ctx.verify_command], env={}, stdin_path=None)
    ws_seen, out_seen = view.paths(ctx.workspace, ctx.output_dir)
    prompt = render_prompt(ctx.prompt_name, workspace=ws_seen, output_dir=out_seen, **ctx.values)
    # Task text and earlier handoffs may name host paths; in a container they must not.
    for host, seen in ((ctx.output_dir, out_seen), (ctx.workspace, ws_seen)):
        prompt = prompt.replace(str(host), seen)
    write_own_file(ctx.output_dir / "prompt.md", prompt)
    return build_invocation(
        ctx.profile.agent,
        prompt_file=f"{out_seen}/prompt.md",
        workspace=ws_seen,
        output_dir=out_seen,
        state_dir=f"{out_seen}/.state",
        model=ctx.model,
        command=ctx.profile.command,
        extra_args=ctx.profile.cli.args,
        cli_config=ctx.profile.cli.config,
        env=env,
        login=ctx.profile.cli.auth_file is not None,
    )


def answer_tail(answer: str, lines: int = 40) -> str:
    """The last ``lines`` lines of the CLI's own final answer (its report cell shows that, not
    the JSON it came in)."""
    return "\n".join(answer.strip().splitlines()[-lines:])


def drop_tree(folder: Path) -> None:
    """Delete ``folder`` (a planted symlink or FIFO is unlinked, never followed or opened)."""
    remove_tree(folder)


def _watchers(
    ctx: StepContext, output: LineSink, should_stop: StopCheck | None
) -> tuple[StallWatch, LineSink, StopCheck]:
    """The stall watch, and the line sink and stop check the runtime gets: the stall watch's,
    or the caps' watch on the usage the agent streams (when its CLI streams usage and a cap
    is set)."""
    watch = StallWatch(output, ctx.stall_limit)
    meter = adapter(ctx.profile.agent).meter if ctx.verify_command is None else None
    if meter is None or ctx.usage_check is None:
        return watch, watch, watch.stop_check(should_stop)
    capped = LiveCap(watch, meter(), ctx.usage_check, ctx.model)
    return watch, capped, capped.stop_check(watch.stop_check(should_stop))


def run_step(
    ctx: StepContext,
    runtime: WorkerRuntime,
    *,
    should_stop: StopCheck | None = None,
    environ: Mapping[str, str] | None = None,
) -> StepRecord:
    """Run one step to completion and return its record (never raises for agent failure)."""
    private_dirs(ctx.output_dir)
    state_dir = ctx.output_dir / ".state"
    # Files the host reads or appends to are this step's own, never an earlier writer's (a
    # process agent can write a later step's folder; output.log could be a link to ~/.bashrc).
    for stale in (HANDOFF_FILE, CODEX_LAST_MESSAGE, OUTPUT_FILE, state_dir.name):
        remove_tree(ctx.output_dir / stale)
    state_dir.mkdir()
    invocation = _invocation(ctx, runtime.view, step_env(ctx.profile, runtime.view, None, environ))
    if ctx.verify_command is None:
        prepare_state(ctx.profile, invocation, state_dir, runtime.view)
    env = step_env(ctx.profile, runtime.view, invocation.env, environ)
    env.update(ctx.extra_env)
    egress: tuple[str, ...] = ()
    if ctx.verify_command is None:
        named = [*model_endpoints(ctx.profile.agent, env), *settings_urls(invocation)]
        egress = egress_hosts(named, runtime.view)
    request = StepRequest(
        argv=invocation.argv,
        workspace=ctx.workspace,
        output_dir=ctx.output_dir,
        timeout=ctx.timeout,
        env=env,
        stdin_path=ctx.output_dir / "prompt.md" if invocation.stdin_path else None,
        read_only_workspace=ctx.profile.role not in WRITING_ROLES,
        objects_dir=ctx.objects_dir,
        egress=egress,
        labels={
            LABEL_TASK: ctx.task_id,
            LABEL_STEP: ctx.step_id,
            LABEL_OWNER: owner_label(),
        },
        name=f"{ctx.task_id}-{ctx.step_id}",
    )
    bound = logger.bind(task_id=ctx.task_id, step=ctx.step_id, worker=ctx.worker_id)
    bound.bind(event="start").info("▶ {} · {} ({})", ctx.task_id, ctx.step_id, ctx.worker_id)

    output = StepOutputLog(
        bound, ctx.output_dir, head=ctx.log_head, tail=ctx.log_tail, every_line=ctx.log_every_line
    )
    watch, sink, stop = _watchers(ctx, output, should_stop)
    with output:
        result = runtime.run(request, sink, stop)
    outcome = parse_outcome(
        "command" if ctx.verify_command is not None else ctx.profile.agent,
        exit_code=result.exit_code,
        stdout=result.stdout,
        stderr=result.stderr,
        timed_out=result.timed_out,
        output_dir=ctx.output_dir,
    )
    # The agent's state (its config, logins, sessions, caches) never outlives the step: run
    # folders are kept and archived, and that state may hold credentials.
    drop_tree(state_dir)
    handoff = parse_handoff(redact(outcome.text)) if ctx.verify_command is None else Handoff()
    if watch.fired and result.stopped_reason == watch.fired:
        # Stuck reconnecting: the model API's fault, not the operator's stop.
        outcome = dataclasses.replace(
            outcome, ok=False, failure="unreachable", message=f"{ctx.profile.agent}: {watch.fired}"
        )
        result = dataclasses.replace(result, stopped_reason=None)
    status = _status(outcome, result.timed_out, result.stopped_reason)
    message = outcome.message
    if status == "timeout":
        message = f"timed out after {ctx.timeout:.0f} s (stopped, then killed)"
        # What the agent said before the limit (aider retries a dead API past any limit).
        _, said, before = outcome.message.partition("; before that: ")
        if said:
            message += f"; before that: {before}"
    elif status == "stopped":
        message = result.stopped_reason or "stopped"
    elif status == "failed" and not message:
        message = f"exit code {result.exit_code}"
    elif outcome.failure in ("auth", "credentials"):
        hint = credential_hint(ctx.profile.agent, env, ctx.profile.cli.auth_file)
        message += f"; {hint}" if hint else ""
    record = StepRecord(
        task_id=ctx.task_id,
        step=ctx.step_id,
        title=ctx.title,
        worker=ctx.worker_id,
        status=status,
        duration=round(result.duration, 3),
        verdict=handoff.verdict,
        output_tail=redact(answer_tail(outcome.answer) or result.output_tail),
        message=redact(message),
        model=ctx.model,
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
        cost_usd=outcome.cost_usd,
        handoff=handoff,
        failure=None if status in ("ok", "stopped") else (outcome.failure or "error"),
    )
    if status == "timeout":
        record.failure = "timeout"
    write_own_file(ctx.output_dir / "result.json", json.dumps(record.to_json(), indent=2))
    event = bound.bind(event=status)
    log = event.info if record.ok else event.warning
    log(
        "  {} · {} ({}) {} in {:.1f}s {}",
        ctx.task_id,
        ctx.step_id,
        ctx.worker_id,
        status,
        result.duration,
        message,
    )
    return record

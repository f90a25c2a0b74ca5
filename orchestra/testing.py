"""Test doubles for Orchestra's own backends, for users and for our engine tests.

Like structlog's ``testing`` module and SWE-ReX's dummy runtime: small, scriptable, real
implementations of the protocols the engine takes, with a named error when a script runs out.

- :class:`ScriptedRuntime` is a :class:`~orchestra.runtime.base.WorkerRuntime`: each ``run``
  takes the next :class:`Reply` (stdout, exit code, files to write into the workspace or the
  output folder, e.g. a ``handoff.md``) and records the request it was given.
- :class:`ScriptedRunner` is a step runner for :func:`orchestra.engine.task.run_task`: each step
  gets the next handoff text (with its verdict) without any process, and the contexts are kept.
- :func:`capture_logs` collects loguru records as dicts while a block runs.

The real runtimes have their own tests; these stand in only where the runtime is not the
thing under test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from orchestra.agents import FailureKind
from orchestra.agents.base import classify
from orchestra.config.models import WorkerProfile
from orchestra.engine.handoff import parse_handoff
from orchestra.engine.step import StepContext, StepRecord, StepStatus
from orchestra.errors import OrchestraError
from orchestra.runtime.base import LineSink, OwnerAlive, StepRequest, StepResult, StopCheck
from orchestra.runtime.view import AgentView, HostView


class ScriptExhaustedError(OrchestraError):
    """A scripted double was asked for more replies than its script holds."""


@dataclass(frozen=True)
class Reply:
    """One scripted step: what the 'agent' prints, how it exits, and the files it writes.

    ``workspace_files`` and ``output_files`` map relative paths to text; they are written before
    the result is returned, as an agent would.
    """

    stdout: str = ""
    exit_code: int | None = 0
    stderr: str = ""
    workspace_files: dict[str, str] = field(default_factory=dict)
    output_files: dict[str, str] = field(default_factory=dict)
    timed_out: bool = False
    stopped_reason: str | None = None


class ScriptedRuntime:
    """A WorkerRuntime that plays :class:`Reply` objects in order and records every request."""

    name = "scripted"
    leftover_scope: str | None = None

    def __init__(
        self,
        replies: Sequence[Reply],
        *,
        missing: Sequence[str] = (),
        view: AgentView | None = None,
    ) -> None:
        self.replies = list(replies)
        self.requests: list[StepRequest] = []
        self.missing = set(missing)
        self.view = view or HostView("scripted")
        """What its agents see: the host as it is, unless a test passes another runtime's."""

    def sweep_leftovers(self, alive: OwnerAlive) -> list[str]:
        """Nothing: a scripted step leaves nothing running."""
        del alive
        return []

    def close(self) -> None:
        """Nothing is kept between steps."""

    def preflight(self, argv0: str) -> None:
        """Refuses the programs named in ``missing``, like a runtime without that agent."""
        from orchestra.errors import AgentNotInstalledError

        if argv0 in self.missing:
            msg = f"{argv0!r} is not installed in the scripted runtime"
            raise AgentNotInstalledError(msg)

    def run(
        self,
        request: StepRequest,
        on_line: LineSink | None = None,
        should_stop: StopCheck | None = None,
    ) -> StepResult:
        """Play the next reply: write its files, pass its lines to ``on_line``, return it."""
        del should_stop
        self.requests.append(request)
        if len(self.requests) > len(self.replies):
            msg = f"step {request.name!r} is run {len(self.requests)} of {len(self.replies)} scripted replies"
            raise ScriptExhaustedError(msg)
        reply = self.replies[len(self.requests) - 1]
        for folder, files in (
            (request.workspace, reply.workspace_files),
            (request.output_dir, reply.output_files),
        ):
            for rel, text in files.items():
                target = folder / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
        for stream, text in (("stdout", reply.stdout), ("stderr", reply.stderr)):
            for line in text.splitlines():
                if on_line is not None:
                    on_line(stream, line)
        tail = "\n".join((reply.stdout + reply.stderr).splitlines()[-40:])
        return StepResult(
            exit_code=reply.exit_code,
            duration=0.0,
            timed_out=reply.timed_out,
            stdout=reply.stdout,
            stderr=reply.stderr,
            output_tail=tail,
            stopped_reason=reply.stopped_reason,
        )


def _failure(status: StepStatus, message: str) -> FailureKind | None:
    """What an adapter would make of a failed step's message (timeouts are our own limit)."""
    if status == "failed":
        return classify(message)
    return "timeout" if status == "timeout" else None


@dataclass
class ScriptedRunner:
    """A step runner that answers each step with the next handoff text, without a process.

    ``handoffs`` are markdown texts (headings, ``Verdict:`` lines); a ``(status, message)``
    tuple instead makes that step end with that status (a failed step's kind is read from the
    message as the adapters read the CLI's error text: "401" is ``auth``). ``contexts`` keeps what each step got.
    """

    handoffs: Sequence[str | tuple[StepStatus, str]]
    contexts: list[StepContext] = field(default_factory=list)

    def __call__(self, ctx: StepContext) -> StepRecord:
        self.contexts.append(ctx)
        if len(self.contexts) > len(self.handoffs):
            msg = f"{ctx.task_id} · {ctx.step_id} is step {len(self.contexts)} of {len(self.handoffs)} scripted"
            raise ScriptExhaustedError(msg)
        answer = self.handoffs[len(self.contexts) - 1]
        status: StepStatus = "ok"
        message = ""
        text = ""
        if isinstance(answer, tuple):
            status, message = answer
        else:
            text = answer
        handoff = parse_handoff(text)
        return StepRecord(
            task_id=ctx.task_id,
            step=ctx.step_id,
            title=ctx.title,
            worker=ctx.worker_id,
            status=status,
            duration=0.0,
            verdict=handoff.verdict,
            output_tail=text[-600:],
            message=message,
            model=ctx.model,
            handoff=handoff,
            failure=_failure(status, message),
        )

    @property
    def step_ids(self) -> list[str]:
        """The ids of the steps run so far, in order."""
        return [c.step_id for c in self.contexts]


@contextmanager
def capture_logs(level: str = "DEBUG") -> Iterator[list[dict[str, Any]]]:
    """Collect the loguru records logged inside the block: message, level and extra fields."""
    records: list[dict[str, Any]] = []

    def sink(message: Any) -> None:
        record = message.record
        records.append(
            {"message": record["message"], "level": record["level"].name, **record["extra"]}
        )

    handler = logger.add(sink, level=level, format="{message}")
    try:
        yield records
    finally:
        logger.remove(handler)


StepFactory = Callable[..., StepContext]
"""Builds a StepContext for a profile (see :func:`implement_step`)."""


def implement_step(root: Path, profile: WorkerProfile, **values: Any) -> StepContext:
    """The context of an implement step of ``profile``: workspace ``root/ws``, output ``root/out``."""
    workspace = root / "ws"
    workspace.mkdir(parents=True, exist_ok=True)
    return StepContext(
        project_id="p",
        run_id="r",
        task_id="task-01",
        step_id="implement",
        title="Implement",
        worker_id="coder",
        profile=profile,
        prompt_name="implement",
        workspace=workspace,
        output_dir=root / "out",
        timeout=30,
        model=None,
        values={"task": "t", "carry": "c", **values},
    )

"""The registry of agent CLIs: one :class:`Adapter` per kind, and the entry points the engine
calls (build an invocation, name its program, list its state folders, parse its outcome).

A new agent CLI is one module in this package with an ``ADAPTER``, added to :data:`ADAPTERS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, get_args

from orchestra.agents import aider, claude, codex, command, opencode
from orchestra.agents.base import (
    HANDOFF_FILE,
    Adapter,
    AgentOutcome,
    Invocation,
    InvocationRequest,
    one_line,
)
from orchestra.config.models import AgentKind
from orchestra.errors import ConfigError
from orchestra.paths import read_agent_file

ADAPTERS: dict[str, Adapter] = {
    a.kind: a
    for a in (opencode.ADAPTER, claude.ADAPTER, codex.ADAPTER, aider.ADAPTER, command.ADAPTER)
}
AGENT_KINDS: tuple[AgentKind, ...] = get_args(AgentKind)


def adapter(kind: str) -> Adapter:
    """The adapter of ``kind``; an unknown kind is a config error listing the known ones."""
    try:
        return ADAPTERS[kind]
    except KeyError:
        msg = f"unknown agent {kind!r}; use one of {', '.join(AGENT_KINDS)}"
        raise ConfigError(msg) from None


def build_invocation(
    kind: AgentKind,
    *,
    prompt_file: str,
    workspace: str,
    output_dir: str,
    state_dir: str,
    model: str | None,
    command: Sequence[str] | None = None,
    extra_args: Sequence[str] = (),
    cli_config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    login: bool = False,
) -> Invocation:
    """The argv/env/stdin that run ``kind`` once, non-interactively, on ``prompt_file``.

    ``extra_args`` (the profile's own flags) go after ours and before codex's ``-`` (read the
    prompt from stdin). ``model`` ``None`` leaves the model to the CLI's own configuration, except
    for aider, which is refused. ``cli_config`` is the profile's ``cli.config`` (the CLI's own
    settings file), ``env`` the step's configured environment (codex reads ``OPENAI_BASE_URL``).
    """
    request = InvocationRequest(
        prompt_file=prompt_file,
        workspace=workspace,
        output_dir=output_dir,
        state_dir=state_dir,
        model=model,
        command=command,
        extra_args=tuple(extra_args),
        cli_config=dict(cli_config or {}),
        env=dict(env or {}),
        login=login,
    )
    return adapter(kind).invocation(request)


def state_dirs(kind: AgentKind, state_dir: str) -> list[str]:
    """The per-run state folders ``kind`` needs; create them (writable) before the step."""
    return adapter(kind).state_dirs(state_dir)


def login_file(kind: AgentKind) -> str | None:
    """Where ``kind`` takes a copied login file, relative to the state folder (or ``None``)."""
    return adapter(kind).login_file


def workspace_excludes() -> tuple[str, ...]:
    """gitignore patterns of every adapter's workspace litter: a task clone excludes them all,
    whichever agents its steps run."""
    patterns = (p for a in ADAPTERS.values() for p in a.workspace_litter)
    return tuple(dict.fromkeys(patterns))


def executable(kind: AgentKind, command: Sequence[str] | None) -> str:
    """The program (argv[0]) a preflight should find for ``kind``."""
    return adapter(kind).program(command)


def parse_outcome(
    kind: AgentKind,
    *,
    exit_code: int | None,
    stdout: str,
    stderr: str,
    timed_out: bool,
    output_dir: Path | None = None,
) -> AgentOutcome:
    """What the step produced and, if it failed, why.

    ``exit_code`` ``None`` means the process did not exit on its own. When ``output_dir`` holds a
    non-empty ``handoff.md``, that report is the outcome's text.
    """
    outcome = adapter(kind).parse(exit_code, stdout, stderr, output_dir)
    if timed_out:
        hint = ""
        if not outcome.ok and outcome.failure != "error":
            hint = "; before that: " + outcome.message.split(": ", 1)[-1]
        message = one_line(f"{kind}: stopped at the time limit{hint}")
        outcome = replace(outcome, ok=False, failure="timeout", message=message)
    elif exit_code is None and outcome.ok:
        outcome = replace(
            outcome, ok=False, failure="error", message=f"{kind}: stopped before it exited"
        )
    handoff = _read_handoff(output_dir)
    return replace(outcome, text=handoff) if handoff else outcome


def _read_handoff(output_dir: Path | None) -> str:
    if output_dir is None:
        return ""
    return (read_agent_file(output_dir / HANDOFF_FILE) or "").strip()

"""Codex CLI (`codex exec --json`): argv, env, state folder and result parser.

codex prints JSONL and succeeds only with ``turn.completed``; ``turn.failed`` says why. It needs a
writable ``CODEX_HOME`` (per run) or it exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestra.agents.base import (
    Adapter,
    AgentOutcome,
    Invocation,
    InvocationRequest,
    as_dict,
    as_int,
    classify,
    exit_failure,
    failed,
    join_path,
    json_lines,
    model_flag,
)
from orchestra.paths import read_agent_file

#: The file codex writes its last message to (``-o``), inside the step's output folder.
CODEX_LAST_MESSAGE = "last-message.txt"


def parse_codex(
    exit_code: int | None, stdout: str, stderr: str, output_dir: Path | None
) -> AgentOutcome:
    """codex ``exec --json``: ok iff ``turn.completed`` and exit 0; ``turn.failed`` says why."""
    messages: list[str] = []
    errors: list[str] = []
    turn_failed = ""
    completed = False
    input_tokens = output_tokens = 0
    for event in json_lines(stdout):
        kind = event.get("type")
        item = as_dict(event.get("item"))
        if kind == "item.completed" and item.get("type") == "agent_message":
            messages.append(str(item.get("text") or ""))
        elif kind == "error":
            errors.append(str(event.get("message") or ""))
        elif kind == "turn.failed":
            error = as_dict(event.get("error"))
            turn_failed = str(error.get("message") or "turn failed")
        elif kind == "turn.completed":
            completed = True
            usage = as_dict(event.get("usage"))
            input_tokens += as_int(usage.get("input_tokens"))
            output_tokens += as_int(usage.get("output_tokens"))
    extra: dict[str, Any] = (
        {"input_tokens": input_tokens, "output_tokens": output_tokens} if completed else {}
    )
    text = messages[-1] if messages else ""
    last_file = output_dir / "last-message.txt" if output_dir is not None else None
    if not text and last_file is not None:
        text = (read_agent_file(last_file) or "").strip()
    if completed and exit_code == 0 and not turn_failed:
        return AgentOutcome(True, text, None, "", **extra)
    if turn_failed:
        return failed("codex", classify(turn_failed), turn_failed, **extra)
    if exit_code is not None and exit_code != 0:
        return exit_failure("codex", exit_code, "\n".join(errors), stderr)
    # Still running when stopped, or exit 0 without a completed turn: the last error is the hint.
    detail = errors[-1] if errors else "no completed turn"
    return failed("codex", classify(detail), detail, **extra)


def state_dirs(state_dir: str) -> list[str]:
    """``CODEX_HOME``, per run."""
    return [join_path(state_dir, "codex")]


def invocation(req: InvocationRequest) -> Invocation:
    """``codex exec`` in the workspace, reading the prompt from stdin (``-``)."""
    argv = ["codex", "exec", "--json", "--skip-git-repo-check"]
    argv += ["--dangerously-bypass-approvals-and-sandbox", "-C", req.workspace]
    argv += [*model_flag("-m", req.model), "-o", join_path(req.output_dir, CODEX_LAST_MESSAGE)]
    env = {"CODEX_HOME": state_dirs(req.state_dir)[0]}
    return Invocation([*argv, *req.extra_args, "-"], env, req.prompt_file)


#: codex's project folder (a ``.codex/`` config or a CODEX_HOME pointed into the repository).
WORKSPACE_LITTER: tuple[str, ...] = (".codex/",)


ADAPTER = Adapter("codex", invocation, parse_codex, state_dirs, workspace_litter=WORKSPACE_LITTER)

"""Aider: argv, env, workspace litter and result parser.

aider exits 0 even when the API refused it, was unreachable or timed out, so its stdout is
searched for ``litellm.<Name>Error`` / ``litellm.Timeout``; tokens and cost come from its
``Tokens:``/``Cost:`` lines. It needs a model (without one it waits for a browser login).
What the real aider 0.86.2 prints in each case is in ``tests/fixtures/agent-samples/aider``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from orchestra.agents.base import (
    Adapter,
    AgentOutcome,
    FailureKind,
    Invocation,
    InvocationRequest,
    exit_failure,
    failed,
    join_path,
    strip_ansi,
)
from orchestra.errors import ConfigError


def invocation(req: InvocationRequest) -> Invocation:
    """aider on the prompt file, edits applied, never committing, histories kept out of the
    workspace."""
    if not req.model:
        # Without a model (and no key) aider waits 5 minutes for a browser login.
        msg = (
            "aider needs a model: set `model:` on the worker profile "
            "(a litellm name such as 'openai/gpt-4o')"
        )
        raise ConfigError(msg)
    argv = [
        "aider",
        "--model",
        req.model,
        "--message-file",
        req.prompt_file,
        "--yes-always",
        "--no-fancy-input",
        "--no-pretty",
        "--no-auto-commits",
        "--no-gitignore",
        "--no-check-update",
        "--no-show-release-notes",
        "--analytics-disable",
        # History files would otherwise land in the workspace (and in the task's commits).
        "--input-history-file",
        join_path(req.output_dir, "aider.input.history"),
        "--chat-history-file",
        join_path(req.output_dir, "aider.chat.history.md"),
        *req.extra_args,
    ]
    return Invocation(argv, dict(AIDER_ENV), None)


#: What the adapter adds to aider's environment, and why:
#: - the bundled model price map, not a download at start-up (a 5 s timeout where DNS works and
#:   egress does not);
#: - no wrapping at 80 columns, so an error reads as one line (``Incorrect API key provided``);
#: - unbuffered output, so what aider printed before our time limit killed it is not lost;
#: - a git identity through git's env config: without one aider writes ``user.name`` into the
#:   workspace's ``.git/config``, which fails on the read-only workspace of a reviewer.
AIDER_ENV: dict[str, str] = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "COLUMNS": "1000",
    "PYTHONUNBUFFERED": "1",
    "GIT_CONFIG_COUNT": "2",
    "GIT_CONFIG_KEY_0": "user.name",
    "GIT_CONFIG_VALUE_0": "Orchestra agent",
    "GIT_CONFIG_KEY_1": "user.email",
    "GIT_CONFIG_VALUE_1": "orchestra@localhost",
}


#: What aider leaves in the working folder: its repo-map cache (``.aider.tags.cache.v4/``) and,
#: should a user's flags move them back, its chat/input histories and its config/env files.
WORKSPACE_LITTER: tuple[str, ...] = (".aider*",)


_AIDER_ERROR = re.compile(r"litellm\.(\w*(?:Error|Timeout)).*?(?=\n\s*\n|\Z)", re.DOTALL)


_AIDER_ERROR_KINDS: dict[str, FailureKind] = {
    "AuthenticationError": "auth",
    "PermissionDeniedError": "auth",
    "APIConnectionError": "unreachable",
    "ServiceUnavailableError": "unreachable",
    "NotFoundError": "configuration",
    "BadRequestError": "configuration",
    # The API did not answer in time (aider's --timeout): it is as good as unreachable.
    "Timeout": "unreachable",
}


#: litellm reports a refused or dropped connection as an InternalServerError with this text.
_CONNECTION_ERROR = re.compile(r"Connection\s+error", re.IGNORECASE)


_AIDER_TOKENS = re.compile(r"^Tokens: ([\d.]+[kKmM]?) sent, .*?([\d.]+[kKmM]?) received\.", re.M)


_AIDER_COST = re.compile(r"Cost: \$([\d.]+) message, \$([\d.]+) session")


_AIDER_BANNER = re.compile(
    r"^(Aider v|Main model:|Weak model:|Editor model:|Model:|Git repo:|Repo-map:|Added |"
    r"Use /help|Cur working dir:|Git working dir:)"
)


def _count(value: str) -> int:
    scale = {"k": 1_000, "m": 1_000_000}.get(value[-1].lower(), 1)
    number = value[:-1] if scale != 1 else value
    return round(float(number) * scale)


def parse_aider(
    exit_code: int | None, stdout: str, stderr: str, output_dir: Path | None
) -> AgentOutcome:
    """aider: the exit code says little; ``litellm.*Error`` on stdout is a failure."""
    del output_dir
    clean = strip_ansi(stdout)
    extra: dict[str, Any] = {}
    token_lines = _AIDER_TOKENS.findall(clean)
    if token_lines:
        extra["input_tokens"] = sum(_count(sent) for sent, _ in token_lines)
        extra["output_tokens"] = sum(_count(received) for _, received in token_lines)
    costs = _AIDER_COST.findall(clean)
    if costs:
        extra["cost_usd"] = float(costs[-1][1])  # the session total is cumulative
    error = _AIDER_ERROR.search(clean)
    if error is not None:
        kind = _AIDER_ERROR_KINDS.get(error.group(1), "error")
        if error.group(1) == "InternalServerError" and _CONNECTION_ERROR.search(error.group(0)):
            kind = "unreachable"
        return failed("aider", kind, error.group(0), **extra)
    if exit_code not in (0, None):
        return exit_failure("aider", exit_code, stdout, stderr)
    if "open this URL in your browser" in clean:
        detail = "waiting for a browser login: set `model:` on the worker profile and an API key"
        return failed("aider", "credentials", detail, **extra)
    if exit_code is None:
        return failed("aider", "error", "stopped before it exited", **extra)
    return AgentOutcome(True, _aider_reply(clean), None, "", **extra)


def _aider_reply(stdout: str) -> str:
    """The model's reply: what follows aider's start-up banner, without its Tokens lines."""
    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Aider v")), 0)
    while start < len(lines) and _AIDER_BANNER.match(lines[start]):
        start += 1
    ends = [i for i, line in enumerate(lines) if line.startswith("Tokens: ") and i >= start]
    body = lines[start : ends[-1]] if ends else lines[start:]
    return "\n".join(line for line in body if not line.startswith("Tokens: ")).strip()


ADAPTER = Adapter("aider", invocation, parse_aider, workspace_litter=WORKSPACE_LITTER)

"""Claude Code (`claude -p`): argv, env, state folder, result parser and usage meter.

claude runs with ``--output-format stream-json --verbose``: one JSON event per line as it works,
each model answer with its usage (what lets the spending governor stop it mid-step, see
agents/streaming.py), and a final ``result`` object with the answer, the tokens and the cost. A
step stopped before that line is read from its answers: their usage and the last text. Per-run ``CLAUDE_CONFIG_DIR`` keeps the sandbox off the user's ``~``; the profile's
``cli.config`` becomes its ``settings.json``. ``--add-dir`` lets it write its handoff report into
the step's output folder, outside its working folder. A subscription token
(``CLAUDE_CODE_OAUTH_TOKEN``) and API keys reach it through the environment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestra.agents.base import (
    Adapter,
    AgentOutcome,
    FailureKind,
    Invocation,
    InvocationRequest,
    as_dict,
    as_int,
    classify,
    exit_failure,
    failed,
    join_path,
    json_lines,
    last_line,
    model_flag,
    strip_ansi,
)
from orchestra.agents.streaming import ClaudeStreamMeter, read_stream

#: Tools claude may use without asking. Others are denied, not asked, under ``acceptEdits``
#: (read-only tools such as Read/Grep/Glob need no permission). Root-safe, unlike
#: ``--dangerously-skip-permissions``.
CLAUDE_TOOLS: tuple[str, ...] = ("Bash", "Edit", "Write")


#: claude retries a dead endpoint or a 401 for minutes by default; 3 retries ride out a blip
#: and fail a bad key in seconds. A profile ``env`` may override it.
CLAUDE_MAX_RETRIES = "3"


def parse_claude(
    exit_code: int | None, stdout: str, stderr: str, output_dir: Path | None
) -> AgentOutcome:
    """claude ``--output-format stream-json`` (or json): the last ``result`` object decides."""
    del output_dir
    results = [obj for obj in json_lines(stdout) if obj.get("type") == "result"]
    if not results:
        if exit_code == 0:
            return AgentOutcome(True, strip_ansi(stdout).strip(), None, "")
        return _cut_short(exit_code, stdout, stderr)
    result = results[-1]
    usage = as_dict(result.get("usage"))
    cost = result.get("total_cost_usd")
    extra: dict[str, Any] = {
        "input_tokens": as_int(usage.get("input_tokens"))
        + as_int(usage.get("cache_creation_input_tokens"))
        + as_int(usage.get("cache_read_input_tokens"))
        if usage
        else None,
        "output_tokens": as_int(usage.get("output_tokens")) if usage else None,
        "cost_usd": float(cost) if isinstance(cost, int | float) else None,
    }
    text = str(result.get("result") or "")
    subtype = str(result.get("subtype") or "")
    if exit_code == 0 and not result.get("is_error") and subtype in ("", "success"):
        return AgentOutcome(True, text, None, "", answer=text, **extra)
    status = result.get("api_error_status")
    detail = text or subtype or last_line(stderr) or f"exit code {exit_code}"
    kind = _status_kind(status)
    if kind is not None:
        return failed("claude", kind, f"{status} {detail}", answer=text, **extra)
    if subtype not in ("", "success") and text:
        detail = f"{subtype}: {detail}"
    return failed("claude", classify(f"{detail}\n{stderr}"), detail, answer=text, **extra)


def _cut_short(exit_code: int | None, stdout: str, stderr: str) -> AgentOutcome:
    """A run that ended before its ``result`` line (stopped, killed): the failure its output
    names, with the usage and last text of the answers it streamed."""
    meter = read_stream(ClaudeStreamMeter(), stdout)
    said = exit_failure("claude", exit_code, "" if meter.usage.requests else stdout, stderr)
    if not meter.usage.requests:
        return said
    usage = meter.usage
    return AgentOutcome(
        False,
        meter.text or said.text,
        said.failure,
        said.message,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        answer=meter.text,
    )


def _status_kind(status: Any) -> FailureKind | None:
    """The failure kind the model API's HTTP status names, if it names one."""
    if not isinstance(status, int) or isinstance(status, bool):
        return None
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limited"
    return "overloaded" if status >= 500 else None


def state_dirs(state_dir: str) -> list[str]:
    """Its config folder, per run."""
    return [join_path(state_dir, "claude")]


def invocation(req: InvocationRequest) -> Invocation:
    """``claude -p`` reading the prompt on stdin, edits accepted, JSON events out."""
    argv = ["claude", "-p", *model_flag("--model", req.model)]
    # --allowedTools is variadic: one item per tool, ended by the next flag.
    argv += ["--permission-mode", "acceptEdits", "--allowedTools", *CLAUDE_TOOLS]
    # Settings from the per-run CLAUDE_CONFIG_DIR only: the work tree's `.claude/settings*.json`
    # (hooks run without asking) and `.mcp.json` (servers are commands) are an earlier
    # step's, or a planted file's, not ours (issue 18).
    argv += ["--setting-sources", "user", "--strict-mcp-config"]
    # stream-json (it needs --verbose): usage per model answer as it runs, the result last.
    argv += ["--add-dir", req.output_dir, "--output-format", "stream-json", "--verbose"]
    argv += [*req.extra_args]
    env = {
        "CLAUDE_CONFIG_DIR": state_dirs(req.state_dir)[0],
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_MAX_RETRIES": CLAUDE_MAX_RETRIES,
    }
    files = {"claude/settings.json": json.dumps(req.cli_config, indent=2)} if req.cli_config else {}
    return Invocation(argv, env, req.prompt_file, files)


#: Claude Code's project folder (``.claude/settings.local.json`` when a tool is allowed for
#: good) and its local memory file.
WORKSPACE_LITTER: tuple[str, ...] = (".claude/", "CLAUDE.local.md")


ADAPTER = Adapter(
    "claude",
    invocation,
    parse_claude,
    state_dirs,
    workspace_litter=WORKSPACE_LITTER,
    meter=ClaudeStreamMeter,
)

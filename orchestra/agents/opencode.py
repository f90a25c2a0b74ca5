"""OpenCode (`opencode run --format json`): argv, env, state folders and result parser.

opencode prints JSONL with ``text``, ``step_finish`` and ``error`` events; its XDG folders must be
writable (per run) or it exits 1.
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
    strip_ansi,
)


def parse_opencode(
    exit_code: int | None, stdout: str, stderr: str, output_dir: Path | None
) -> AgentOutcome:
    """opencode ``run --format json``: join ``text`` parts, sum ``step_finish``; ``error`` fails."""
    del output_dir
    events = [obj for obj in json_lines(stdout) if "type" in obj]
    if not events:  # default text format, or nothing at all
        if exit_code == 0:
            return AgentOutcome(True, strip_ansi(stdout).strip(), None, "")
        return exit_failure("opencode", exit_code, stdout, stderr)
    texts: list[str] = []
    error: dict[str, Any] | None = None
    steps = input_tokens = output_tokens = 0
    cost = 0.0
    for event in events:
        part = as_dict(event.get("part"))
        if event["type"] == "text":
            texts.append(str(part.get("text") or ""))
        elif event["type"] == "step_finish":
            steps += 1
            tokens = as_dict(part.get("tokens"))
            cache = as_dict(tokens.get("cache"))
            input_tokens += (
                as_int(tokens.get("input")) + as_int(cache.get("read")) + as_int(cache.get("write"))
            )
            output_tokens += as_int(tokens.get("output"))
            step_cost = part.get("cost")
            cost += float(step_cost) if isinstance(step_cost, int | float) else 0.0
        elif event["type"] == "error":
            raw = event.get("error")
            error = raw if isinstance(raw, dict) else {"name": str(raw)}
    extra: dict[str, Any] = (
        {"input_tokens": input_tokens, "output_tokens": output_tokens, "cost_usd": cost}
        if steps
        else {}
    )
    text = "\n".join(t.strip() for t in texts if t.strip())
    if error is None and exit_code == 0:
        return AgentOutcome(True, text, None, "", **extra)
    if error is None:
        return exit_failure("opencode", exit_code, stdout, stderr)
    return _opencode_error(error, extra)


def _opencode_error(error: dict[str, Any], extra: dict[str, Any]) -> AgentOutcome:
    name = str(error.get("name") or "error")
    data = as_dict(error.get("data"))
    detail = f"{name}: {data.get('message') or ''}".rstrip(": ")
    status = data.get("statusCode")
    body = str(data.get("responseBody") or "")
    if status in (401, 403):
        return failed("opencode", "auth", f"{status} {detail}", **extra)
    if name == "UnknownError":
        # What opencode 1.18 prints for an unknown provider/model: nothing more specific.
        hint = f"{detail}; usually an unknown provider/model: check `model:` (provider/model)"
        return failed("opencode", "configuration", hint, **extra)
    kind = classify(f"{detail}\n{body}")
    if kind == "error" and isinstance(status, int) and status >= 500:
        kind = "unreachable"
    return failed("opencode", kind, detail, **extra)


def state_dirs(state_dir: str) -> list[str]:
    """Its XDG config, data, state and cache folders, per run."""
    return [join_path(state_dir, "xdg", name) for name in ("config", "data", "state", "cache")]


def invocation(req: InvocationRequest) -> Invocation:
    """``opencode run`` in the workspace, reading the prompt on stdin."""
    argv = ["opencode", "run", "--format", "json", "--auto", "--dir", req.workspace]
    argv += [*model_flag("-m", req.model), *req.extra_args]
    config, data, state, cache = state_dirs(req.state_dir)
    env = {
        "XDG_CONFIG_HOME": config,
        "XDG_DATA_HOME": data,
        "XDG_STATE_HOME": state,
        "XDG_CACHE_HOME": cache,
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
    }
    return Invocation(argv, env, req.prompt_file)


#: opencode's project folder (its agents, plans and session files).
WORKSPACE_LITTER: tuple[str, ...] = (".opencode/",)


ADAPTER = Adapter(
    "opencode", invocation, parse_opencode, state_dirs, workspace_litter=WORKSPACE_LITTER
)

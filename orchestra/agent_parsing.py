"""Read what an agent CLI printed and decide what happened.

One parser per CLI, each a pure function of (exit code, stdout, stderr). They extract the final
text, token counts and cost, and for a failure a :data:`FailureKind` plus a one-line reason.
Timeouts and the preferred ``handoff.md`` text are applied on top by
:func:`orchestra.agents.parse_outcome`, the public entry point.

The signals were chosen from real output (``tests/fixtures/agent-samples``) and
``AGENT-CLIS.md``: claude prints one JSON ``result`` object (the last line in stream-json mode);
codex prints JSONL and succeeds only with ``turn.completed``; opencode prints JSONL with ``error``
events; aider exits 0 even when the API refused it, so its stdout is searched for
``litellm.*Error``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from orchestra.paths import read_agent_file

FailureKind = Literal[
    "auth", "credentials", "unreachable", "timeout", "configuration", "environment", "error"
]
"""Why a step failed: rejected key, no key at all, API not reachable, our time limit, bad
model/flag/provider, the machine (read-only or missing state dirs), anything else."""

#: Longest reason kept in :attr:`AgentOutcome.message`.
MAX_MESSAGE_CHARS = 240


@dataclass(frozen=True)
class AgentOutcome:
    """What one agent invocation produced.

    ``text`` is the handoff report when the agent wrote one, else the CLI's final answer (or, on
    failure, its error text). ``message`` is a one-line human reason, empty on success.
    """

    ok: bool
    text: str
    failure: FailureKind | None
    message: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


# Ordered: the first pattern that matches decides. Checked against error text only.
_SIGNALS: tuple[tuple[FailureKind, re.Pattern[str]], ...] = (
    (
        "environment",
        re.compile(
            r"read-only file system|EROFS|os error 30|EACCES|permission denied \(os error 13\)"
            r"|no space left on device",
            re.IGNORECASE,
        ),
    ),
    (
        "credentials",
        re.compile(
            r"not logged in|please run /login|missing environment variable"
            r"|no api key|api key is not set|waiting up to \d+ minutes for you to finish",
            re.IGNORECASE,
        ),
    ),
    (
        "auth",
        re.compile(
            r"\b401\b|\b403\b|unauthori[sz]ed|invalid (x-)?api[ _-]?key|incorrect api key"
            r"|authentication_?error|invalid_api_key|permission_error|forbidden",
            re.IGNORECASE,
        ),
    ),
    (
        "configuration",
        re.compile(
            r"model_not_found|not_found_error|unknown model"
            r"|model .{0,80} (does not exist|not found)"
            r"|issue with the selected model|ProviderModelNotFound|ModelNotFound"
            r"|LLM Provider NOT provided|unexpected argument|unrecognized arguments"
            r"|cannot be used with root",
            re.IGNORECASE,
        ),
    ),
    (
        "unreachable",
        re.compile(
            r"unable to connect|connection ?refused|ECONNREFUSED|ENOTFOUND|ECONNRESET"
            r"|failed to lookup address|name resolution|dns error|error sending request"
            r"|could not resolve host|network is unreachable|APIConnectionError|fetch failed",
            re.IGNORECASE,
        ),
    ),
)

_WHAT: dict[FailureKind, str] = {
    "auth": "authentication failed",
    "credentials": "no credentials",
    "unreachable": "model API unreachable",
    "timeout": "stopped at the time limit",
    "configuration": "configuration problem",
    "environment": "environment problem",
    "error": "failed",
}

# Things shaped like secrets: provider keys and long opaque tokens.
_SECRETISH = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_*\-]{6,}|\b[A-Za-z0-9_\-]{40,}\b")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def classify(text: str, default: FailureKind = "error") -> FailureKind:
    """The failure kind the first matching signal in ``text`` names, else ``default``."""
    for kind, pattern in _SIGNALS:
        if pattern.search(text):
            return kind
    return default


def one_line(text: str) -> str:
    """``text`` squeezed to one short line, ANSI codes and secret-shaped tokens removed."""
    flat = " ".join(_ANSI.sub("", text).split())
    flat = _SECRETISH.sub("[redacted]", flat)
    if len(flat) > MAX_MESSAGE_CHARS:
        flat = flat[: MAX_MESSAGE_CHARS - 1] + "…"
    return flat


def failed(agent: str, kind: FailureKind, detail: str, **usage: Any) -> AgentOutcome:
    """A failure outcome with the message ``"<agent>: <what> (<detail>)"``."""
    reason = one_line(detail)
    message = f"{agent}: {_WHAT[kind]}" + (f" ({reason})" if reason else "")
    return AgentOutcome(False, detail.strip(), kind, message, **usage)


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


def _json_lines(stdout: str) -> Iterator[dict[str, Any]]:
    """Every line of ``stdout`` that is a JSON object; other lines are skipped."""
    for line in stdout.splitlines():
        stripped = line.strip()
        if not stripped.startswith("{"):
            continue
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield value


def _obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _last_line(text: str) -> str:
    lines = [line for line in strip_ansi(text).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _exit_failure(agent: str, exit_code: int | None, stdout: str, stderr: str) -> AgentOutcome:
    """A failure read from plain stdout/stderr when the CLI gave nothing structured."""
    lines = [ln.strip() for ln in strip_ansi(f"{stderr}\n{stdout}").splitlines() if ln.strip()]
    kind = classify("\n".join(lines), default="configuration" if exit_code == 2 else "error")
    pattern = dict(_SIGNALS).get(kind, re.compile(r"error", re.IGNORECASE))
    telling = [ln for ln in lines if pattern.search(ln)]
    detail = telling[0] if telling else (_last_line(stderr) or _last_line(stdout))
    if not detail and exit_code is not None:
        detail = f"exit code {exit_code}"
    return failed(agent, kind, detail)


def parse_claude(
    exit_code: int | None, stdout: str, stderr: str, output_dir: Path | None
) -> AgentOutcome:
    """claude ``--output-format json`` (or stream-json): the last ``result`` object decides."""
    del output_dir
    results = [obj for obj in _json_lines(stdout) if obj.get("type") == "result"]
    if not results:
        if exit_code == 0:
            return AgentOutcome(True, strip_ansi(stdout).strip(), None, "")
        return _exit_failure("claude", exit_code, stdout, stderr)
    result = results[-1]
    usage = _obj(result.get("usage"))
    cost = result.get("total_cost_usd")
    extra: dict[str, Any] = {
        "input_tokens": _int(usage.get("input_tokens"))
        + _int(usage.get("cache_creation_input_tokens"))
        + _int(usage.get("cache_read_input_tokens"))
        if usage
        else None,
        "output_tokens": _int(usage.get("output_tokens")) if usage else None,
        "cost_usd": float(cost) if isinstance(cost, int | float) else None,
    }
    text = str(result.get("result") or "")
    subtype = str(result.get("subtype") or "")
    if exit_code == 0 and not result.get("is_error") and subtype in ("", "success"):
        return AgentOutcome(True, text, None, "", **extra)
    status = result.get("api_error_status")
    detail = text or subtype or _last_line(stderr) or f"exit code {exit_code}"
    if status in (401, 403):
        return failed("claude", "auth", f"{status} {detail}", **extra)
    if subtype not in ("", "success") and text:
        detail = f"{subtype}: {detail}"
    return failed("claude", classify(f"{detail}\n{stderr}"), detail, **extra)


def parse_codex(
    exit_code: int | None, stdout: str, stderr: str, output_dir: Path | None
) -> AgentOutcome:
    """codex ``exec --json``: ok iff ``turn.completed`` and exit 0; ``turn.failed`` says why."""
    messages: list[str] = []
    errors: list[str] = []
    turn_failed = ""
    completed = False
    input_tokens = output_tokens = 0
    for event in _json_lines(stdout):
        kind = event.get("type")
        item = _obj(event.get("item"))
        if kind == "item.completed" and item.get("type") == "agent_message":
            messages.append(str(item.get("text") or ""))
        elif kind == "error":
            errors.append(str(event.get("message") or ""))
        elif kind == "turn.failed":
            error = _obj(event.get("error"))
            turn_failed = str(error.get("message") or "turn failed")
        elif kind == "turn.completed":
            completed = True
            usage = _obj(event.get("usage"))
            input_tokens += _int(usage.get("input_tokens"))
            output_tokens += _int(usage.get("output_tokens"))
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
        return _exit_failure("codex", exit_code, "\n".join(errors), stderr)
    # Still running when stopped, or exit 0 without a completed turn: the last error is the hint.
    detail = errors[-1] if errors else "no completed turn"
    return failed("codex", classify(detail), detail, **extra)


def parse_opencode(
    exit_code: int | None, stdout: str, stderr: str, output_dir: Path | None
) -> AgentOutcome:
    """opencode ``run --format json``: join ``text`` parts, sum ``step_finish``; ``error`` fails."""
    del output_dir
    events = [obj for obj in _json_lines(stdout) if "type" in obj]
    if not events:  # default text format, or nothing at all
        if exit_code == 0:
            return AgentOutcome(True, strip_ansi(stdout).strip(), None, "")
        return _exit_failure("opencode", exit_code, stdout, stderr)
    texts: list[str] = []
    error: dict[str, Any] | None = None
    steps = input_tokens = output_tokens = 0
    cost = 0.0
    for event in events:
        part = _obj(event.get("part"))
        if event["type"] == "text":
            texts.append(str(part.get("text") or ""))
        elif event["type"] == "step_finish":
            steps += 1
            tokens = _obj(part.get("tokens"))
            cache = _obj(tokens.get("cache"))
            input_tokens += (
                _int(tokens.get("input")) + _int(cache.get("read")) + _int(cache.get("write"))
            )
            output_tokens += _int(tokens.get("output"))
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
        return _exit_failure("opencode", exit_code, stdout, stderr)
    return _opencode_error(error, extra)


def _opencode_error(error: dict[str, Any], extra: dict[str, Any]) -> AgentOutcome:
    name = str(error.get("name") or "error")
    data = _obj(error.get("data"))
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


_AIDER_ERROR = re.compile(r"litellm\.(\w*Error).*?(?=\n\s*\n|\Z)", re.DOTALL)
_AIDER_ERROR_KINDS: dict[str, FailureKind] = {
    "AuthenticationError": "auth",
    "PermissionDeniedError": "auth",
    "APIConnectionError": "unreachable",
    "ServiceUnavailableError": "unreachable",
    "NotFoundError": "configuration",
    "BadRequestError": "configuration",
}
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
        return failed("aider", kind, error.group(0), **extra)
    if exit_code not in (0, None):
        return _exit_failure("aider", exit_code, stdout, stderr)
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


def parse_command(
    exit_code: int | None, stdout: str, stderr: str, output_dir: Path | None
) -> AgentOutcome:
    """Any command: ok iff it exits 0; its text is stdout."""
    del output_dir
    if exit_code == 0:
        return AgentOutcome(True, stdout.strip(), None, "")
    detail = _last_line(stderr) or _last_line(stdout)
    return failed("command", "error", f"exit code {exit_code}" + (f": {detail}" if detail else ""))


Parser = Callable[[int | None, str, str, Path | None], AgentOutcome]

PARSERS: dict[str, Parser] = {
    "claude": parse_claude,
    "codex": parse_codex,
    "opencode": parse_opencode,
    "aider": parse_aider,
    "command": parse_command,
}

__all__ = [
    "PARSERS",
    "AgentOutcome",
    "FailureKind",
    "classify",
    "failed",
    "one_line",
]

"""What every agent adapter shares: the invocation it builds, the outcome it parses, the
failure kinds, and the helpers the per-CLI parsers use.

An adapter (one module per CLI in this package) turns an :class:`InvocationRequest` into an
:class:`Invocation` (argv, the env it adds, the stdin file) and parses what the CLI printed into an
:class:`AgentOutcome`. The flags, environment, state folders and failure signals of each CLI are the
ones written down in ``AGENT-CLIS.md`` and checked against the real output in
``tests/fixtures/agent-samples``.

Environment: :attr:`Invocation.env` holds only what the adapter adds (per-run state folders and
retry/update knobs). The caller builds the step's environment as
``allowed_env(os.environ, pass_env) | invocation.env | profile.env``: host values first, the
adapter's state folders over them (a host ``CODEX_HOME`` must not leak into a sandboxed run), and
the profile's explicit ``env`` last, so a user can still point ``CLAUDE_CONFIG_DIR`` or
``CODEX_HOME`` at a logged-in folder on purpose.

State folders live under the step's ``state_dir``; the runtime must create them writable before
the step starts, because codex and opencode exit 1 otherwise. Per-run folders keep concurrent runs
apart and keep the sandbox off the user's ``~``; the price is that a CLI's own interactive login is
not visible there: workers authenticate with API keys from the environment.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from orchestra.agents.streaming import UsageMeter
from orchestra.config.models import AgentKind, ModelPolicy
from orchestra.errors import ConfigError

FailureKind = Literal[
    "auth",
    "credentials",
    "unreachable",
    "rate_limited",
    "overloaded",
    "timeout",
    "configuration",
    "environment",
    "error",
]
"""Why a step failed: rejected key, no key at all, API not reachable, the API's rate limit or
quota (429), the API overloaded or failing (529, 5xx), our time limit, bad model/flag/provider,
the machine (read-only or missing state dirs), anything else."""


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
    answer: str = ""
    """The CLI's own final answer (claude's ``result``, codex's last ``agent_message``), for the
    report's output tail instead of the raw JSON it came in; empty for plain-text CLIs."""


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
        "rate_limited",
        re.compile(
            r"\b429\b|too many requests|rate[ _-]?limit|insufficient_quota|quota exceeded"
            r"|exceeded your current quota|usage limit",
            re.IGNORECASE,
        ),
    ),
    (
        "overloaded",
        re.compile(
            r"\b529\b|overloaded|\b50[0234] (internal server error|bad gateway|service unavailable"
            r"|gateway timeout)|internal server error|\bapi_error\b|\bserver_error\b|high demand"
            r"|service unavailable"
            r"|status:? 5\d\d\b|API Error: 5\d\d\b",
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
            r"|could not resolve host|network is unreachable|APIConnectionError|fetch failed"
            r"|waiting for network|reconnecting|stream disconnected|connection (closed|reset)",
            re.IGNORECASE,
        ),
    ),
)


_WHAT: dict[FailureKind, str] = {
    "auth": "authentication failed",
    "credentials": "no credentials",
    "unreachable": "model API unreachable",
    "rate_limited": "model API rate limit or quota",
    "overloaded": "model API overloaded or failing",
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


def json_lines(stdout: str) -> Iterator[dict[str, Any]]:
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


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def last_line(text: str) -> str:
    lines = [line for line in strip_ansi(text).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def exit_failure(agent: str, exit_code: int | None, stdout: str, stderr: str) -> AgentOutcome:
    """A failure read from plain stdout/stderr when the CLI gave nothing structured."""
    lines = [ln.strip() for ln in strip_ansi(f"{stderr}\n{stdout}").splitlines() if ln.strip()]
    kind = classify("\n".join(lines), default="configuration" if exit_code == 2 else "error")
    pattern = dict(_SIGNALS).get(kind, re.compile(r"error", re.IGNORECASE))
    telling = [ln for ln in lines if pattern.search(ln)]
    detail = telling[0] if telling else (last_line(stderr) or last_line(stdout))
    if not detail and exit_code is not None:
        detail = f"exit code {exit_code}"
    return failed(agent, kind, detail)


Parser = Callable[[int | None, str, str, Path | None], AgentOutcome]


#: Host variables a step may inherit (``AGENT-CLIS.md``, "Env allowlist"); ``*`` is a wildcard.
PASS_ENV_DEFAULTS: tuple[str, ...] = (
    "PATH",
    "HOME",
    "LANG",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "CLAUDE_CONFIG_DIR",
    "CLAUDE_CODE_MAX_RETRIES",
    "DISABLE_AUTOUPDATER",
    "IS_SANDBOX",
    "CODEX_HOME",
    "XDG_*_HOME",
    "OPENCODE_*",
    "AIDER_*",
)


#: The file every prompt asks the agent to write last, inside the step's output folder.
HANDOFF_FILE = "handoff.md"


@dataclass(frozen=True)
class Invocation:
    """How to start one agent step.

    ``env`` holds only what the adapter adds; ``stdin_path`` is the file to feed on stdin, or
    ``None`` for ``/dev/null`` (never an open pipe: codex and opencode wait on one).
    """

    argv: list[str]
    env: dict[str, str]
    stdin_path: str | None
    state_files: dict[str, str] = field(default_factory=dict)
    """Files to write before the step, by path relative to the step's state folder (codex's
    ``codex/config.toml``): the CLI's own settings for this run."""


def join_path(base: str, *parts: str) -> str:
    """Join path parts with ``/``: paths may be container paths, never host-native ones."""
    return "/".join([base.rstrip("/"), *parts])


def model_flag(flag: str, model: str | None) -> list[str]:
    return [flag, model] if model else []


def choose_model(
    policy: ModelPolicy,
    *,
    profile_model: str | None,
    task_model: str | None,
    sticky_model: str | None,
) -> str | None:
    """The model for one step.

    ``dynamic``: the task's front-matter model if set, else this step's profile model (so each
    step may use a different one). ``sticky``: the first model chosen in the task
    (``sticky_model``) for every later step; before one is chosen, as ``dynamic``.
    """
    if policy == "sticky" and sticky_model:
        return sticky_model
    if policy not in ("dynamic", "sticky"):
        msg = f"unknown model policy {policy!r}; use 'dynamic' or 'sticky'"
        raise ConfigError(msg)
    return task_model or profile_model or None


def allowed_env(environ: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """The entries of ``environ`` whose names match ``names`` (exact, or ``fnmatch`` patterns
    such as ``XDG_*_HOME``); matching is case-sensitive."""
    patterns = [name for name in names if any(ch in name for ch in "*?[")]
    exact = set(names) - set(patterns)
    return {
        key: value
        for key, value in environ.items()
        if key in exact or any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns)
    }


@dataclass(frozen=True)
class InvocationRequest:
    """Where the agent sees its prompt, workspace, output and state folders (container paths
    under Docker), and the profile's model, command and extra flags."""

    prompt_file: str
    workspace: str
    output_dir: str
    state_dir: str
    model: str | None
    command: Sequence[str] | None = None
    extra_args: Sequence[str] = field(default_factory=tuple)
    cli_config: Mapping[str, Any] = field(default_factory=dict)
    """The profile's ``cli.config``: the CLI's own settings."""
    login: bool = False
    """The profile offers the CLI a copy of its login file (``cli.auth_file``)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The step's environment as configured (host pass-through and the profile's ``env``), for
    adapters that turn a variable into their CLI's settings (codex: ``OPENAI_BASE_URL``)."""


def no_state_dirs(state_dir: str) -> list[str]:
    """For CLIs that need no state folder of their own."""
    del state_dir
    return []


@dataclass(frozen=True)
class Adapter:
    """One agent CLI: how to start it, how to read it, which state folders and program it needs,
    and which files of its own it leaves in the workspace.

    ``executable`` maps the profile's ``command`` to the program a preflight looks for; ``None``
    means the CLI's own name.
    """

    kind: AgentKind
    invocation: Callable[[InvocationRequest], Invocation]
    parse: Parser
    state_dirs: Callable[[str], list[str]] = no_state_dirs
    executable: Callable[[Sequence[str] | None], str] | None = None
    login_file: str | None = None
    """Where a copied login file goes, relative to the state folder (codex: ``codex/auth.json``);
    ``None``: the CLI takes no login file."""
    workspace_litter: tuple[str, ...] = ()
    """gitignore patterns of the state, cache and history files the CLI leaves in its working
    folder; the task clone excludes them so a result branch never carries them."""
    meter: Callable[[], UsageMeter] | None = None
    """A reader of the usage the CLI streams while it runs (agents/streaming.py); ``None``: it
    reports usage only at its end."""

    def program(self, command: Sequence[str] | None) -> str:
        """argv[0] of this adapter's invocations."""
        return self.executable(command) if self.executable else self.kind

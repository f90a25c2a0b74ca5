"""Agent adapters: a worker profile's settings plus a prompt file become argv/env, and what the
CLI printed becomes an :class:`AgentOutcome`.

The flags, environment, state folders and failure signals of each CLI are the ones written down in
``AGENT-CLIS.md`` and checked against the real output in ``tests/fixtures/agent-samples``.

Environment: :attr:`Invocation.env` holds only what the adapter adds (per-run state folders and
retry/update knobs). The caller builds the step's environment as
``allowed_env(os.environ, pass_env) | invocation.env | profile.env``: host values first, the
adapter's state folders over them (a host ``CODEX_HOME`` must not leak into a sandboxed run), and
the profile's explicit ``env`` last, so a user can still point ``CLAUDE_CONFIG_DIR`` or
``CODEX_HOME`` at a logged-in folder on purpose.

State folders live under the step's ``state_dir`` (:func:`state_dirs` lists them); the runtime must
create them writable before the step starts, because codex and opencode exit 1 otherwise.
Per-run folders keep concurrent runs apart and keep the sandbox off the user's ``~``; the price is
that a CLI's own interactive login (``claude /login``, ``codex login``, ``opencode auth login``) is
not visible there: workers authenticate with API keys from the environment.

The process's working directory is the workspace (the runtime's job); codex and opencode are also
told it with ``-C``/``--dir``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, get_args

from orchestra.agent_parsing import PARSERS, AgentOutcome, FailureKind, one_line
from orchestra.errors import ConfigError
from orchestra.paths import read_agent_file

AgentKind = Literal["opencode", "claude", "codex", "aider", "command"]
ModelPolicy = Literal["dynamic", "sticky"]

AGENT_KINDS: tuple[AgentKind, ...] = get_args(AgentKind)

#: Host variables a step may inherit (``AGENT-CLIS.md``, "Env allowlist"); ``*`` is a wildcard.
PASS_ENV_DEFAULTS: tuple[str, ...] = (
    "PATH",
    "HOME",
    "LANG",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
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

#: Tools claude may use without asking. Others are denied, not asked, under ``acceptEdits``
#: (read-only tools such as Read/Grep/Glob need no permission). Root-safe, unlike
#: ``--dangerously-skip-permissions``.
CLAUDE_TOOLS: tuple[str, ...] = ("Bash", "Edit", "Write")

#: claude retries a dead endpoint or a 401 for minutes by default; 3 retries ride out a blip
#: and fail a bad key in seconds. A profile ``env`` may override it.
CLAUDE_MAX_RETRIES = "3"

#: The file codex writes its last message to (``-o``), inside the step's output folder.
CODEX_LAST_MESSAGE = "last-message.txt"

#: The file every prompt asks the agent to write last, inside the step's output folder.
HANDOFF_FILE = "handoff.md"

_PLACEHOLDERS = ("prompt_file", "workspace", "output_dir", "model", "state_dir")


@dataclass(frozen=True)
class Invocation:
    """How to start one agent step.

    ``env`` holds only what the adapter adds; ``stdin_path`` is the file to feed on stdin, or
    ``None`` for ``/dev/null`` (never an open pipe: codex and opencode wait on one).
    """

    argv: list[str]
    env: dict[str, str]
    stdin_path: str | None


def _join(base: str, *parts: str) -> str:
    """Join path parts with ``/``: paths may be container paths, never host-native ones."""
    return "/".join([base.rstrip("/"), *parts])


def state_dirs(kind: AgentKind, state_dir: str) -> list[str]:
    """The per-run state folders ``kind`` needs; create them (writable) before the step."""
    if kind == "claude":
        return [_join(state_dir, "claude")]
    if kind == "codex":
        return [_join(state_dir, "codex")]
    if kind == "opencode":
        return [_join(state_dir, "xdg", name) for name in ("config", "data", "state", "cache")]
    return []


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
) -> Invocation:
    """The argv/env/stdin that run ``kind`` once, non-interactively, on ``prompt_file``.

    ``extra_args`` (the profile's own flags) go after ours and before codex's ``-`` (read the
    prompt from stdin). ``model`` ``None`` leaves the model to the CLI's own configuration, except
    for aider, which is refused.
    """
    extra = list(extra_args)
    if kind == "claude":
        argv = ["claude", "-p", *_model_flag("--model", model)]
        # --allowedTools is variadic: one item per tool, ended by the next flag.
        argv += ["--permission-mode", "acceptEdits", "--allowedTools", *CLAUDE_TOOLS]
        argv += ["--output-format", "json", *extra]
        env = {
            "CLAUDE_CONFIG_DIR": _join(state_dir, "claude"),
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_MAX_RETRIES": CLAUDE_MAX_RETRIES,
        }
        return Invocation(argv, env, prompt_file)
    if kind == "codex":
        argv = ["codex", "exec", "--json", "--skip-git-repo-check"]
        argv += ["--dangerously-bypass-approvals-and-sandbox", "-C", workspace]
        argv += [*_model_flag("-m", model), "-o", _join(output_dir, CODEX_LAST_MESSAGE)]
        return Invocation(
            [*argv, *extra, "-"], {"CODEX_HOME": _join(state_dir, "codex")}, prompt_file
        )
    if kind == "opencode":
        argv = ["opencode", "run", "--format", "json", "--auto", "--dir", workspace]
        argv += [*_model_flag("-m", model), *extra]
        config, data, state, cache = state_dirs("opencode", state_dir)
        env = {
            "XDG_CONFIG_HOME": config,
            "XDG_DATA_HOME": data,
            "XDG_STATE_HOME": state,
            "XDG_CACHE_HOME": cache,
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
        }
        return Invocation(argv, env, prompt_file)
    if kind == "aider":
        return Invocation(_aider_argv(prompt_file, output_dir, model, extra), {}, None)
    if kind == "command":
        values = {
            "prompt_file": prompt_file,
            "workspace": workspace,
            "output_dir": output_dir,
            "model": model or "",
            "state_dir": state_dir,
        }
        argv = [_substitute(item, values) for item in _command(command)]
        return Invocation([*argv, *extra], {}, prompt_file)
    raise _unknown_kind(kind)


def _model_flag(flag: str, model: str | None) -> list[str]:
    return [flag, model] if model else []


def _aider_argv(
    prompt_file: str, output_dir: str, model: str | None, extra: list[str]
) -> list[str]:
    if not model:
        # Without a model (and no key) aider waits 5 minutes for a browser login.
        msg = (
            "aider needs a model: set `model:` on the worker profile "
            "(a litellm name such as 'openai/gpt-4o')"
        )
        raise ConfigError(msg)
    return [
        "aider",
        "--model",
        model,
        "--message-file",
        prompt_file,
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
        _join(output_dir, "aider.input.history"),
        "--chat-history-file",
        _join(output_dir, "aider.chat.history.md"),
        *extra,
    ]


def _command(command: Sequence[str] | None) -> list[str]:
    if isinstance(command, str):
        msg = f"command {command!r} must be a list of arguments, not one string"
        raise ConfigError(msg)
    items = [str(item) for item in command or ()]
    if not items or not items[0].strip():
        msg = (
            "the `command` agent needs a non-empty `command:` list on the worker profile, "
            "e.g. ['my-agent', '--prompt', '{prompt_file}']"
        )
        raise ConfigError(msg)
    return items


def _substitute(item: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` placeholders; other braces (JSON, shell) are left alone."""
    for name in _PLACEHOLDERS:
        item = item.replace("{" + name + "}", values[name])
    return item


def _unknown_kind(kind: object) -> ConfigError:
    msg = f"unknown agent {kind!r}; use one of {', '.join(AGENT_KINDS)}"
    return ConfigError(msg)


def executable(kind: AgentKind, command: Sequence[str] | None) -> str:
    """The program (argv[0]) a preflight should find for ``kind``."""
    if kind == "command":
        return _command(command)[0]
    if kind not in AGENT_KINDS:
        raise _unknown_kind(kind)
    return kind


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
    parser = PARSERS.get(kind)
    if parser is None:
        raise _unknown_kind(kind)
    outcome = parser(exit_code, stdout, stderr, output_dir)
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


__all__ = [
    "AGENT_KINDS",
    "CLAUDE_TOOLS",
    "CODEX_LAST_MESSAGE",
    "HANDOFF_FILE",
    "PASS_ENV_DEFAULTS",
    "AgentKind",
    "AgentOutcome",
    "FailureKind",
    "Invocation",
    "ModelPolicy",
    "allowed_env",
    "build_invocation",
    "choose_model",
    "executable",
    "parse_outcome",
    "state_dirs",
]

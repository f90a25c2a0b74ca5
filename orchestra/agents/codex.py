"""Codex CLI (`codex exec --json`): argv, env, state folder and result parser.

codex prints JSONL and succeeds only with ``turn.completed``; ``turn.failed`` says why. It needs a
writable ``CODEX_HOME`` (per run) or it exits 1.

Its settings come from the per-run ``CODEX_HOME/config.toml``, written from the profile's
``cli.config``. codex 0.163 ignores ``OPENAI_BASE_URL`` (it dials api.openai.com and waits for
network), so when the step's env sets it and ``cli.config`` names no ``model_provider``, the
adapter adds one: that base URL, the Responses wire protocol, the key from ``OPENAI_API_KEY`` (or
``CODEX_API_KEY``; with neither set but a login file offered, the login's), and few retries so
that a failing API ends the step in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from orchestra.agents.toml import dumps
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
    last_file = output_dir / CODEX_LAST_MESSAGE if output_dir is not None else None
    if not text and last_file is not None:
        text = (read_agent_file(last_file) or "").strip()
    if completed and exit_code == 0 and not turn_failed:
        return AgentOutcome(True, text, None, "", answer=text, **extra)
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


#: The provider the adapter makes of ``OPENAI_BASE_URL``.
ENV_PROVIDER = "orchestra-openai-base-url"


#: Its retries: codex's defaults (4 request, 5 stream retries with back-off) keep a refusing or
#: dead API busy for minutes; one retry rides out a blip.
ENV_PROVIDER_RETRIES: dict[str, int] = {"request_max_retries": 1, "stream_max_retries": 1}


def codex_config(
    cli_config: Mapping[str, Any], env: Mapping[str, str], *, login: bool = False
) -> dict[str, Any]:
    """``config.toml`` for one run: the profile's ``cli.config``, plus a provider made of
    ``OPENAI_BASE_URL`` when the env sets it and ``cli.config`` chooses no provider."""
    config = dict(cli_config)
    base_url = env.get("OPENAI_BASE_URL", "").strip()
    if base_url and "model_provider" not in config:
        key_var = next((v for v in ("OPENAI_API_KEY", "CODEX_API_KEY") if env.get(v)), None)
        # No key in the env but a login offered: codex sends the login's credential.
        auth: dict[str, Any] = (
            {"requires_openai_auth": True}
            if key_var is None and login
            else {"env_key": key_var or "OPENAI_API_KEY"}
        )
        provider = {
            "name": "OpenAI-compatible endpoint (OPENAI_BASE_URL)",
            "base_url": base_url,
            **auth,
            "wire_api": "responses",
            **ENV_PROVIDER_RETRIES,
        }
        providers = dict(config.get("model_providers") or {})
        providers[ENV_PROVIDER] = provider
        config.update(model_provider=ENV_PROVIDER, model_providers=providers)
    return config


def provider_endpoint(
    cli_config: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[str, str, str | None] | None:
    """The endpoint codex will call when a provider is configured (``cli.config``, or the one
    made of ``OPENAI_BASE_URL``): its base URL, where that was set, and its key variable."""
    config = codex_config(cli_config, env)
    name = config.get("model_provider")
    providers = config.get("model_providers")
    provider = providers.get(name) if isinstance(providers, Mapping) else None
    if not isinstance(provider, Mapping) or not str(provider.get("base_url") or "").strip():
        return None
    where = "OPENAI_BASE_URL" if name == ENV_PROVIDER else f"cli.config model_providers.{name}"
    key = provider.get("env_key")
    return str(provider["base_url"]).strip(), where, str(key) if key else None


def invocation(req: InvocationRequest) -> Invocation:
    """``codex exec`` in the workspace, reading the prompt from stdin (``-``)."""
    argv = ["codex", "exec", "--json", "--skip-git-repo-check"]
    argv += ["--dangerously-bypass-approvals-and-sandbox", "-C", req.workspace]
    argv += [*model_flag("-m", req.model), "-o", join_path(req.output_dir, CODEX_LAST_MESSAGE)]
    env = {"CODEX_HOME": state_dirs(req.state_dir)[0]}
    config = codex_config(req.cli_config, req.env, login=req.login)
    files = {"codex/config.toml": dumps(config)} if config else {}
    return Invocation([*argv, *req.extra_args, "-"], env, req.prompt_file, files)


#: codex's project folder (a ``.codex/`` config or a CODEX_HOME pointed into the repository).
WORKSPACE_LITTER: tuple[str, ...] = (".codex/",)


ADAPTER = Adapter(
    "codex",
    invocation,
    parse_codex,
    state_dirs,
    login_file="codex/auth.json",
    workspace_litter=WORKSPACE_LITTER,
)

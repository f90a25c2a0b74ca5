"""Which variable holds each agent CLI's credential, so that a refused or missing key is reported
by name (never by value) and the cycle can stop with the fix.

Claude Code reads an API key (``ANTHROPIC_API_KEY``), a gateway token (``ANTHROPIC_AUTH_TOKEN``)
or a subscription token from ``claude setup-token`` (``CLAUDE_CODE_OAUTH_TOKEN``). Codex reads
the variable its provider names (``OPENAI_API_KEY`` for the provider the adapter makes of
``OPENAI_BASE_URL``, ``CODEX_API_KEY`` for the built-in one) or a login file (``cli.auth_file``).
"""

from __future__ import annotations

from collections.abc import Mapping

CREDENTIAL_VARS: dict[str, tuple[str, ...]] = {
    "claude": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
    "codex": ("OPENAI_API_KEY", "CODEX_API_KEY"),
    "opencode": ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"),
    "aider": ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"),
}

#: What the step message of a refused or missing credential says (the cycle stops on it).
CREDENTIAL_FAILURE_PHRASES = ("authentication failed", "no credentials")


def credential_hint(kind: str, env: Mapping[str, str], login_file: str | None = None) -> str:
    """Which variable to fix: the ones set (their key was refused) or the ones to set."""
    names = CREDENTIAL_VARS.get(kind, ())
    if not names:
        return ""
    present = [name for name in names if env.get(name)]
    if present:
        return (
            f"the model API refused the credential in {' and '.join(present)}: "
            "set a valid one (a key, or a subscription token for claude)"
        )
    if login_file:
        return f"the login in cli.auth_file {login_file!r} was refused: run `codex login` again"
    return f"no credential was set: set {' or '.join(names)} in the worker's env or pass_env"

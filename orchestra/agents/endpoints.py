"""Where an agent CLI sends its model requests: the base URL its step's env names, else the
provider's own API. The egress allowlist of a sandboxed step starts from these."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

#: Variables that point an agent at a model API, in the order they are looked at.
BASE_URL_VARS = ("OPENAI_API_BASE", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")

#: The provider APIs each CLI calls when no base URL is set (codex also signs in through
#: chatgpt.com on a subscription; aider and opencode pick by model, so both providers).
PROVIDER_APIS: dict[str, tuple[str, ...]] = {
    "claude": ("https://api.anthropic.com",),
    "codex": ("https://api.openai.com", "https://chatgpt.com"),
    "aider": ("https://api.openai.com", "https://api.anthropic.com"),
    "opencode": ("https://api.openai.com", "https://api.anthropic.com", "https://models.dev"),
    "command": (),
}


def model_endpoints(agent: str, env: Mapping[str, str]) -> list[str]:
    """The base URLs ``env`` names for the agent's model API, else its provider defaults."""
    named = [env[v].strip() for v in BASE_URL_VARS if env.get(v, "").strip()]
    return list(dict.fromkeys(named)) if named else list(PROVIDER_APIS.get(agent, ()))


def host_port(url: str) -> str | None:
    """``host:port`` of ``url`` (the scheme's default port when none is given); None when
    ``url`` names no host."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"

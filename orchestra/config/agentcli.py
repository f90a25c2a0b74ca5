"""A worker's own settings for its agent CLI: extra flags, the CLI's settings file for each run,
and (codex) a login file to offer the step (docs/agents.md, "Each CLI's own settings")."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AgentCliConfig(BaseModel):
    """The `cli:` section of a worker profile."""

    # As every config model (config.models.Strict): unknown keys are errors.
    model_config = ConfigDict(extra="forbid", validate_default=True, use_attribute_docstrings=True)

    args: list[str] = Field(default_factory=list)
    """Extra flags for the CLI, after Orchestra's own (before codex's `-` for stdin)."""
    config: dict[str, Any] = Field(default_factory=dict)
    """The CLI's own settings for each run: codex's `config.toml` in the per-run CODEX_HOME
    (tables as mappings, e.g. `model_providers`), claude's `settings.json` in its per-run
    CLAUDE_CONFIG_DIR."""
    auth_file: str | None = None
    """codex only: a login file (`~/.codex/auth.json` from `codex login`) copied read-only into
    the per-run CODEX_HOME for the step and deleted after it; the folder is never mounted."""

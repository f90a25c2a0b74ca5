"""Agent CLIs: one module per CLI (its argv, env, state folders, result parser and failure
signals), the shared types in :mod:`orchestra.agents.base`, and the registry that picks one."""

from orchestra.agents.base import (
    HANDOFF_FILE,
    PASS_ENV_DEFAULTS,
    Adapter,
    AgentOutcome,
    FailureKind,
    Invocation,
    InvocationRequest,
    allowed_env,
    choose_model,
)
from orchestra.agents.registry import (
    ADAPTERS,
    AGENT_KINDS,
    adapter,
    build_invocation,
    executable,
    login_file,
    parse_outcome,
    state_dirs,
    workspace_excludes,
)

__all__ = [
    "ADAPTERS",
    "AGENT_KINDS",
    "HANDOFF_FILE",
    "PASS_ENV_DEFAULTS",
    "Adapter",
    "AgentOutcome",
    "FailureKind",
    "Invocation",
    "InvocationRequest",
    "adapter",
    "allowed_env",
    "build_invocation",
    "choose_model",
    "executable",
    "login_file",
    "parse_outcome",
    "state_dirs",
    "workspace_excludes",
]

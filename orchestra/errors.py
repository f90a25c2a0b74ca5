"""One exception tree for Orchestra.

Every error we raise on purpose derives from :class:`OrchestraError`, and also from the
built-in it resembles, so callers can catch either. Errors from Docker, Neo4j, Prefect and
the OS are translated at the boundary with ``raise ... from exc``.

::

    OrchestraError
    ├── ConfigError (ValueError)            bad or missing configuration, names file and key
    ├── PathEscapeError (ValueError)        a relative path that leaves the project
    ├── ProjectError (ValueError)           the project folder is not usable (not a git repo, ...)
    ├── QueueError (OSError)                the queue folders cannot be read or written
    │   └── TaskFileError (ValueError)      one task file is malformed or oversize
    ├── AgentError                          an agent could not be invoked
    │   └── AgentNotInstalledError (FileNotFoundError)
    ├── RuntimeUnavailableError (RuntimeError)   preflight: engine unreachable, image missing
    ├── SandboxPolicyError (ValueError)     a worker profile asks for something unsafe
    ├── StepTimeoutError (TimeoutError)
    ├── CycleError (RuntimeError)           a cycle ended without success; message is the reason
    └── MemoryUnavailableError (ConnectionError)
"""

from __future__ import annotations


class OrchestraError(Exception):
    """Root of every error Orchestra raises on purpose."""


class ConfigError(OrchestraError, ValueError):
    """The configuration is missing, unreadable or invalid."""


class PathEscapeError(OrchestraError, ValueError):
    """A relative path resolves outside the project folder."""


class ProjectError(OrchestraError, ValueError):
    """The project folder cannot be used (missing, not a git repository, ...)."""


class QueueError(OrchestraError, OSError):
    """A queue folder cannot be read or written."""


class TaskFileError(QueueError, ValueError):
    """One task file is malformed or too large; it is quarantined, the cycle goes on."""


class AgentError(OrchestraError):
    """An agent could not be invoked."""


class AgentNotInstalledError(AgentError, FileNotFoundError):
    """The agent's executable is not on PATH (or not inside the worker image)."""


class RuntimeUnavailableError(OrchestraError, RuntimeError):
    """A worker runtime cannot run steps (Docker unreachable, image missing, ...)."""


class SandboxPolicyError(OrchestraError, ValueError):
    """A worker profile asks for something the sandbox refuses (e.g. the Docker socket)."""


class StepTimeoutError(OrchestraError, TimeoutError):
    """A step ran past its time limit and was stopped."""


class CycleError(OrchestraError, RuntimeError):
    """A cycle ended without success; the message is the one-line reason."""


class CycleSkipped(OrchestraError):
    """The cycle must not run now; the message says why (it becomes the run's state message)."""


class MemoryUnavailableError(OrchestraError, ConnectionError):
    """The memory backend cannot be reached; memory is best-effort."""


__all__ = [
    "AgentError",
    "AgentNotInstalledError",
    "ConfigError",
    "CycleError",
    "CycleSkipped",
    "MemoryUnavailableError",
    "OrchestraError",
    "PathEscapeError",
    "ProjectError",
    "QueueError",
    "RuntimeUnavailableError",
    "SandboxPolicyError",
    "StepTimeoutError",
    "TaskFileError",
]

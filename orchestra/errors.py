"""One exception tree for Orchestra, with one root and no built-in bases.

Every error we raise on purpose derives from :class:`OrchestraError` only, so a handler names the
kind of trouble it handles and the order of ``except`` clauses never matters. Errors from Docker,
Neo4j, Prefect, git and the OS are translated at the boundary with ``raise ... from exc``; the
original stays in ``__cause__``. Every message says what happened and how to fix it.

::

    OrchestraError
    ├── ConfigError                 bad or missing configuration; names the file and the key
    │   └── SandboxPolicyError      a worker profile asks for something unsafe (the Docker socket)
    ├── PathEscapeError             a relative path that leaves the project
    ├── ProjectError                the project folder is not usable, or git failed in it
    ├── QueueError                  a queue folder cannot be read or written
    ├── TaskFileError               one task file is malformed or oversize (it is quarantined)
    ├── AgentError                  an agent could not be invoked
    │   └── AgentNotInstalledError  its executable is not on PATH or not in the image
    ├── RuntimeUnavailableError     preflight: engine unreachable, image missing
    ├── ModelAPIError               preflight: a worker's model API unreachable, silent, key refused
    ├── StepFailed                  one step ended without success; carries its record
    ├── PrefectServerError          the Prefect API cannot be reached, or its server not started
    ├── CycleError                  a cycle ended without success; the message is the reason
    │   └── RunFailed               a flow ran to its end and failed (the data of its Failed state)
    ├── CycleSkipped                a cycle must not run now (kill switch, lock, budget, idle gate)
    ├── MemoryUnavailableError      the memory backend cannot be reached (memory is best-effort)
    └── MemoryItemError             a memory item or query is malformed
"""

from __future__ import annotations


class OrchestraError(Exception):
    """Root of every error Orchestra raises on purpose."""


class ConfigError(OrchestraError):
    """The configuration is missing, unreadable or invalid."""


class SandboxPolicyError(ConfigError):
    """A worker profile asks for something the sandbox refuses (e.g. the Docker socket)."""


class PathEscapeError(OrchestraError):
    """A relative path resolves outside the project folder."""


class ProjectError(OrchestraError):
    """The project folder cannot be used (missing, not a git repository, git failed, ...)."""


class QueueError(OrchestraError):
    """A queue folder cannot be read or written."""


class TaskFileError(OrchestraError):
    """One task file is malformed or too large; it is quarantined, the cycle goes on."""


class AgentError(OrchestraError):
    """An agent could not be invoked."""


class AgentNotInstalledError(AgentError):
    """The agent's executable is not on PATH (or not inside the worker image)."""


class RuntimeUnavailableError(OrchestraError):
    """A worker runtime cannot run steps (Docker unreachable, image missing, ...)."""


class ModelAPIError(OrchestraError):
    """A worker's model API is unreachable, silent or refuses the key (found in preflight)."""


class StepFailed(OrchestraError):
    """A step ended without success; raised so its Prefect task run shows Failed. ``record``
    is the step's record (the engine's StepRecord; this module imports nothing)."""

    def __init__(self, message: str, record: object = None) -> None:
        super().__init__(message)
        self.record = record

    def __reduce__(self) -> tuple[type[StepFailed], tuple[str, object]]:
        # Exception pickles its args only (the message); a task run's state may be pickled.
        return type(self), (str(self), self.record)


class PrefectServerError(OrchestraError):
    """The Prefect API does not answer, or the project's Prefect server could not be started."""


class CycleError(OrchestraError):
    """A cycle ended without success; the message is the one-line reason."""


class RunFailed(CycleError):
    """A cycle or task flow ran to its end and failed; its run is Failed with this message.

    The data of the Failed state a flow returns: Prefect resolves a failed state's data into an
    exception, and anything else (the cycle's summary dict) made every deployed failed run end
    in an engine traceback. ``summary`` keeps what the run did.
    """

    def __init__(self, message: str, summary: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.summary: dict[str, object] = dict(summary or {})


class CycleSkipped(OrchestraError):
    """The cycle must not run now; the message says why (it becomes the run's state message)."""


class MemoryUnavailableError(OrchestraError):
    """The memory backend cannot be reached; memory is best-effort."""


class MemoryItemError(OrchestraError):
    """A memory item or query is malformed (bad key, tags, JSON value, limit)."""


__all__ = [
    "AgentError",
    "AgentNotInstalledError",
    "ConfigError",
    "CycleError",
    "CycleSkipped",
    "MemoryItemError",
    "MemoryUnavailableError",
    "ModelAPIError",
    "OrchestraError",
    "PathEscapeError",
    "PrefectServerError",
    "ProjectError",
    "QueueError",
    "RunFailed",
    "RuntimeUnavailableError",
    "SandboxPolicyError",
    "StepFailed",
    "TaskFileError",
]

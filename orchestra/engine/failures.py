"""Failures in three kinds: who is to blame decides what a failure costs.

- ``task``: the agent failed, its review, or verify. It costs the task an attempt.
- ``infrastructure``: the Docker engine, the image, the model API (unreachable, refusing or
  missing the key, an unknown model, rate-limited or out of quota, overloaded or failing with a
  5xx), a full disk, Prefect's API. Retrying the task cannot help
  until someone fixes the machine: the cycle ends at once, the task goes back to the queue
  without an attempt, and the failure counts toward the breaker that pauses the schedules.
- ``operator``: the kill switch or a cancelled run. The task goes back without an attempt and
  the cycle claims nothing more.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import Literal

from orchestra.agents import FailureKind
from orchestra.engine.step import StepRecord
from orchestra.errors import AgentNotInstalledError, ProjectError, RuntimeUnavailableError

FailureClass = Literal["task", "infrastructure", "operator"]

#: Adapter failure kinds that say nothing about the task: the machine or the account is at fault.
INFRASTRUCTURE_KINDS: frozenset[FailureKind] = frozenset(
    {
        "auth",
        "credentials",
        "unreachable",
        "rate_limited",
        "overloaded",
        "configuration",
        "environment",
    }
)

#: Text of an OS or git error that means the disk is full.
_DISK_FULL = ("no space left on device", "disk quota exceeded")


def step_failure_class(record: StepRecord) -> FailureClass:
    """The kind of a failed step: stopped from outside, the machine, or the task itself."""
    if record.status == "stopped":
        return "operator"
    if record.failure in INFRASTRUCTURE_KINDS:
        return "infrastructure"
    return "task"


def exception_failure_class(exc: BaseException) -> FailureClass:
    """The kind of an exception that ended a task before its steps could finish."""
    if isinstance(exc, RuntimeUnavailableError | AgentNotInstalledError):
        return "infrastructure"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "infrastructure"
    if isinstance(exc, OSError | ProjectError) and any(t in str(exc).lower() for t in _DISK_FULL):
        return "infrastructure"
    return "task"


def records_failure_class(records: Sequence[StepRecord]) -> FailureClass:
    """The kind of a task whose last step failed (task when no step ran or the last one passed)."""
    if not records or records[-1].ok:
        return "task"
    return step_failure_class(records[-1])


#: Costs an attempt (only task failures do).
def costs_attempt(kind: str | None) -> bool:
    """Whether a failure of this kind moves the task's ``attempts`` on."""
    return kind in (None, "task")

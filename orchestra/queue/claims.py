"""Who holds a claim and whether it is still alive: claim records and owner liveness (also used for step containers)."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from orchestra.queue.taskfile import (
    TaskFile,
)

CLAIM_SUFFIX = ".claim.json"


@dataclass(frozen=True)
class ClaimRecord:
    """Who holds a running task: written to ``running/<task-id>.claim.json``."""

    run_id: str
    host: str
    pid: int
    claimed_at: str

    @classmethod
    def load(cls, path: Path) -> ClaimRecord | None:
        """Read a claim record; None when it is missing, unreadable or not one of ours."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                str(data["run_id"]), str(data["host"]), int(data["pid"]), str(data["claimed_at"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class Claimed:
    """A task this run holds: the parsed file (in ``running/``) and its claim record."""

    task: TaskFile
    record: ClaimRecord


def default_is_alive(record: ClaimRecord) -> bool:
    """Same host: is the pid still running. Another host: assume alive (we cannot tell)."""
    return process_alive(record.host, record.pid)


OWNER_LABEL = "orchestra.owner"


def owner_label() -> str:
    """``<host>:<pid>`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_alive(host: str, pid: int) -> bool:
    """Same host: is the pid running. Another host: assume alive (we cannot tell)."""
    if host != socket.gethostname():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it belongs to someone else
    return True


def owner_alive(owner: str | None, *, exclude_self: bool = False) -> bool:
    """Whether the process named by an owner label may still need what it owns."""
    host, _, pid_text = (owner or "").rpartition(":")
    if not pid_text.isdigit():
        return False
    if exclude_self and host == socket.gethostname() and int(pid_text) == os.getpid():
        return False
    return process_alive(host, int(pid_text))

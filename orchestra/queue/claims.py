"""Who holds a claim and whether it is still alive: claim records and owner liveness (also used
for step containers).

An owner is a host, a pid and the pid's start time (clock ticks since boot, from
``/proc/<pid>/stat``). After a container restart pids are handed out again from the start: a
live process with the claim's pid but another start time is someone else, and the claim is
dead. Records written without a start time (older versions) fall back to the pid alone.
"""

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
    started: int | None = None
    """The owner's start time in clock ticks since boot (None when unknown)."""

    @classmethod
    def mine(cls, run_id: str, claimed_at: str) -> ClaimRecord:
        """A record naming this process as the owner."""
        pid = os.getpid()
        return cls(run_id, socket.gethostname(), pid, claimed_at, process_start(pid))

    @classmethod
    def load(cls, path: Path) -> ClaimRecord | None:
        """Read a claim record; None when it is missing, unreadable or not one of ours."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            started = data.get("started")
            return cls(
                str(data["run_id"]),
                str(data["host"]),
                int(data["pid"]),
                str(data["claimed_at"]),
                None if started is None else int(started),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass(frozen=True)
class Claimed:
    """A task this run holds: the parsed file (in ``running/``) and its claim record."""

    task: TaskFile
    record: ClaimRecord


def default_is_alive(record: ClaimRecord) -> bool:
    """Same host: is the pid still running (and the same process). Another host: assume alive."""
    return process_alive(record.host, record.pid, record.started)


def owner_label() -> str:
    """``<host>:<pid>:<start ticks>`` of this process."""
    pid = os.getpid()
    start = process_start(pid)
    return f"{socket.gethostname()}:{pid}" + ("" if start is None else f":{start}")


def process_start(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot; None when it is gone or unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
        # "pid (comm) state ppid ..."; comm may hold spaces and parentheses. starttime is field 22.
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_alive(host: str, pid: int, started: int | None = None) -> bool:
    """Same host: is the pid running, and (when ``started`` is known) the same process.
    Another host: assume alive (we cannot tell)."""
    if host != socket.gethostname():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, it belongs to someone else
    if started is not None:
        now = process_start(pid)
        return now is None or now == started  # None: /proc unreadable, cannot tell
    return True


def owner_alive(owner: str | None, *, exclude_self: bool = False) -> bool:
    """Whether the process named by an owner label may still need what it owns."""
    parts = (owner or "").split(":")
    if len(parts) == 2:
        parts.append("")
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    host, pid, start = parts[0], int(parts[1]), parts[2]
    if exclude_self and host == socket.gethostname() and pid == os.getpid():
        return False
    return process_alive(host, pid, int(start) if start.isdigit() else None)

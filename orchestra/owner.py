"""Who owns a claim or a container: ``<host>:<pid>`` of the orchestrating process."""

from __future__ import annotations

import os
import socket

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

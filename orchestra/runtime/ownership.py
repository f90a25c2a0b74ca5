"""Who a Docker step runs as, and handing its folders to that user and back.

A step never runs as uid 0 unless its profile says so (``runtime.user: "0:0"``). By default it
runs as the orchestrator's own uid:gid, so files it writes stay the user's. When the
orchestrator itself is root, copying that would make every step root in its container, so
steps get the dedicated :data:`STEP_USER` instead: the writable folders (workspace, output
folder) are handed to it before the step and back to the orchestrator's user afterwards, once
the container is gone, so results still come back owned by the user.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from orchestra.config.runtimes import DockerConfig

#: uid:gid of Docker steps when the orchestrator runs as root (no such user on most hosts).
STEP_USER = "61000:61000"


def host_user() -> str:
    """The current user's ``uid:gid``."""
    return f"{os.getuid()}:{os.getgid()}"


def step_user(cfg: DockerConfig, *, host: str | None = None) -> str:
    """The uid:gid a step runs as: the profile's ``user``, else the host's, never root by default."""
    if cfg.user:
        return cfg.user  # explicit, root included
    host = host or host_user()
    return STEP_USER if host.split(":")[0] == "0" else host


def needs_handover(user: str, *, host: str | None = None) -> bool:
    """True when the orchestrator is root and the step runs as someone else."""
    host = host or host_user()
    return host.split(":")[0] == "0" and user.split(":", maxsplit=1)[0] != "0" and user != host


def _ids(user: str) -> tuple[int, int]:
    uid, _, gid = user.partition(":")
    return int(uid), int(gid or uid)


def chown_tree(root: Path, user: str) -> None:
    """Give ``root`` and everything under it to ``user`` without following any symlink."""
    if not user.replace(":", "").isdigit():
        return  # a user *name* (resolved in the image): nothing to hand over on the host
    uid, gid = _ids(user)
    if not root.exists() or root.is_symlink():
        return
    with contextlib.suppress(FileNotFoundError):
        os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):  # os.walk does not descend into links
        for name in dirnames + filenames:
            with contextlib.suppress(FileNotFoundError):
                os.lchown(Path(dirpath, name), uid, gid)

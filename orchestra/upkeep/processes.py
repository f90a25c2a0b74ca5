"""Agents orphaned by a SIGKILLed cycle: found through /proc by their working folder and killed."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def kill_processes_in(folders: list[Path]) -> list[int]:
    """SIGKILL the process group of every process working inside ``folders``; return their pids.

    For steps orphaned by a cycle that was SIGKILLed before it could stop them: they run on, in
    their own session, in the dead run's task clone. Processes with a controlling terminal (a
    person's shell in that folder) are left alone. Reads /proc (Linux); finds nothing elsewhere.
    """
    roots = [str(folder.resolve()) for folder in folders]
    own = os.getpgid(0)
    killed: list[int] = []
    for entry in Path("/proc").glob("[0-9]*") if roots else ():
        try:
            cwd = str((entry / "cwd").readlink()).removesuffix(" (deleted)")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile, or not ours to inspect
        pgid, tty = int(fields[2]), int(fields[4])
        if pgid != own and tty == 0 and any(cwd == r or cwd.startswith(r + os.sep) for r in roots):
            with contextlib.suppress(ProcessLookupError):  # gone meanwhile
                os.killpg(pgid, signal.SIGKILL)
            killed.append(int(entry.name))
    return killed

"""Gates a cycle must pass before it starts, enforced outside the agent:

- one cycle per project at a time (an ``flock`` on ``.orchestra/cycle.lock``);
- the kill switch ``.orchestra/STOP`` (:mod:`orchestra.policy.killswitch`);
- ``max_cycles_per_day`` (counted in ``.orchestra/cycles.log``, UTC days);
- the idle gate for scheduled cycles: a human commit or uncommitted changes within
  ``idle_minutes`` skip the cycle. Orchestra's own files (:data:`OWN_FILES`) are not the
  human's work: ``orchestra init`` leaves ``orchestra.yaml`` untracked, and counting it kept
  every scheduled cycle skipping until the user committed it (then for ``idle_minutes`` more).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from orchestra.errors import CycleSkipped
from orchestra.policy.killswitch import check_kill_switch
from orchestra.workspace.git import git

LOCK_FILE = ".orchestra/cycle.lock"


CYCLES_LOG = ".orchestra/cycles.log"

#: Orchestra's state folder and its config files: changes there, committed or not, are not a
#: human working on the code.
OWN_FILES = (".orchestra", "orchestra.yaml", "orchestra.local.yaml")
_NOT_OWN = (".", *(f":(exclude,top){name}" for name in OWN_FILES))


@contextmanager
def cycle_lock(project: Path, *, now: datetime | None = None) -> Iterator[None]:
    """Hold the project's cycle lock; a second holder gets CycleSkipped naming pid and start."""
    path = project / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fh: TextIO = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            try:
                holder = json.loads(fh.read() or "{}")
            except ValueError:
                holder = {}
            msg = (
                f"already running (pid {holder.get('pid', '?')}, since {holder.get('since', '?')}); "
                "one cycle per project at a time"
            )
            raise CycleSkipped(msg) from None
        fh.seek(0)
        fh.truncate()
        since = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        fh.write(json.dumps({"pid": os.getpid(), "since": since}))
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the flock, also when the process dies


def count_cycles_today(project: Path, *, now: datetime | None = None) -> int:
    """Cycles started on the current UTC day."""
    today = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
    try:
        lines = (project / CYCLES_LOG).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return 0
    return sum(1 for line in lines if line.startswith(today))


def check_daily_budget(project: Path, max_cycles: int, *, now: datetime | None = None) -> None:
    """Skip once ``max_cycles`` cycles started today (UTC)."""
    started = count_cycles_today(project, now=now)
    if started >= max_cycles:
        msg = f"{started} cycles already started today (limits.max_cycles_per_day {max_cycles})"
        raise CycleSkipped(msg)


def record_cycle_start(project: Path, run_id: str, *, now: datetime | None = None) -> None:
    """Append this cycle's start to the daily count; earlier days' lines are dropped (only
    today's count matters, and the file must not grow for ever)."""
    path = project / CYCLES_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    current = now or datetime.now(UTC)
    moment = current.isoformat(timespec="seconds")
    today = current.strftime("%Y-%m-%d")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    if lines and not lines[0].startswith(today):
        kept = "".join(f"{line}\n" for line in lines if line.startswith(today))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(kept, encoding="utf-8")
        tmp.replace(path)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"{moment} {run_id}\n")


def human_activity(
    project: Path, *, idle_minutes: int, orchestra_email: str, now: float | None = None
) -> str | None:
    """Why a human counts as active in the repository now, or None when it has been idle."""
    # --no-optional-locks leaves the index alone.
    status = git(
        project, "--no-optional-locks", "status", "--porcelain", "--untracked-files=normal", "--",
        *_NOT_OWN,
    )  # fmt: skip
    if status:
        lines = status.splitlines()
        more = f" and {len(lines) - 1} more" if len(lines) > 1 else ""
        return f"uncommitted changes in the checkout ({lines[0].strip()}{more})"
    # Only commits that touch something besides Orchestra's files (committing orchestra.yaml,
    # as `orchestra init` asks, is not work on the code).
    log = git(project, "log", "--all", "-n", "50", "--format=%ct %ae", "--", *_NOT_OWN)
    current = time.time() if now is None else now
    for line in log.splitlines():
        stamp, _, email = line.partition(" ")
        if email.strip().lower() == orchestra_email.lower():
            continue
        age_min = (current - int(stamp)) / 60
        if age_min < idle_minutes:
            return f"a commit by {email} {age_min:.0f} min ago (idle_minutes {idle_minutes})"
        break
    return None


def check_idle(project: Path, *, idle_minutes: int, orchestra_email: str) -> None:
    """Skip a scheduled cycle while a human is working in the repository."""
    reason = human_activity(project, idle_minutes=idle_minutes, orchestra_email=orchestra_email)
    if reason:
        msg = f"human activity: {reason}"
        raise CycleSkipped(msg)


def check_start(
    project: Path, *, scheduled: bool, idle_minutes: int, max_cycles: int, email: str
) -> None:
    """Every rule a cycle must pass before it starts (scheduled cycles pass more of them)."""
    check_kill_switch(project)
    if scheduled:
        check_daily_budget(project, max_cycles)
        check_idle(project, idle_minutes=idle_minutes, orchestra_email=email)

"""The task queue on disk: discover, claim, archive, fail, quarantine, recover.

::

    queue/task-03.md ──claim──▶ running/task-03.md + running/task-03.claim.json
        ▲                          │ archive ──▶ done/task-03-2026-01-06T12-34-56-789Z.md
        └── fail (attempts+1) ◀────┤ fail at max_attempts ──▶ failed/task-03.md + .error.md
                                   │ malformed ──▶ rejected/task-03.md + .reason.txt

Every move is ``os.link`` + ``os.unlink``: the link fails when the destination exists, so a
task file is never overwritten or deleted, and two claimers of one file cannot both win.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import stat
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from orchestra.clock import file_stamp, iso_utc, utc_now
from orchestra.errors import PathEscapeError, QueueError, TaskFileError
from orchestra.queue.claims import CLAIM_SUFFIX, Claimed, ClaimRecord
from orchestra.queue.layout import QueueLayout
from orchestra.queue.taskfile import (
    MAX_TASK_CHARS,
    check_name,
    discover,
    parse_task,
    scan_folder,
    split_front_matter,
    with_attempts,
)
from orchestra.secrets import redact

#: Default number of failed attempts after which a task goes to ``failed/``.
MAX_ATTEMPTS = 3


#: A running file without a claim record younger than this may be mid-claim; leave it alone.
ORPHAN_GRACE_S = 30.0


_ARCHIVED_RE = re.compile(r"^(?!.*\.error\.md$).+\.md$")  # task files, not error reports


class TaskQueue:
    """Moves task files between the folders of a :class:`QueueLayout`."""

    def __init__(
        self,
        layout: QueueLayout,
        *,
        max_task_chars: int = MAX_TASK_CHARS,
        max_attempts: int = MAX_ATTEMPTS,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.layout = layout
        self.max_task_chars = max_task_chars
        self.max_attempts = max_attempts
        self._now = now

    def pending(self) -> list[Path]:
        """Task files waiting in ``queue/``, in the order they should run."""
        return discover(self.layout.queue)

    def claim(self, path: Path, *, run_id: str) -> Claimed | None:
        """Move ``path`` from ``queue/`` into ``running/`` and record the claim.

        Returns None when another claimer won, or when the file was malformed (it is then
        quarantined in ``rejected/`` with the reason).
        """
        name = check_name(path.name)
        _require_in(path, self.layout.queue)
        running = self.layout.running / name
        _mkdir(self.layout.running)
        try:
            os.link(path, running, follow_symlinks=False)
        except (FileExistsError, FileNotFoundError):
            return None
        except OSError as exc:
            raise _error("claim", path, exc) from exc
        _unlink(path)
        record = ClaimRecord.mine(run_id, iso_utc(self._now()))
        tmp = running.with_name(f".{name}.claim.{os.getpid()}.tmp")
        _write(tmp, json.dumps(asdict(record), indent=2) + "\n", mode="w")
        tmp.replace(self._record_path(name))
        if not stat.S_ISREG(os.lstat(running).st_mode):
            self.quarantine(running, "not a regular file (a symlink or special file)")
            return None
        try:
            task = parse_task(running, max_chars=self.max_task_chars)
        except TaskFileError as exc:
            self.quarantine(running, str(exc))
            return None
        return Claimed(task, record)

    def archive(self, claimed: Claimed) -> Path:
        """Move a finished task to the archive as ``<task-id>-<UTC stamp>.md``; return it."""
        self._require_owner(claimed)
        stem = f"{claimed.task.task_id}-{file_stamp(self._now())}"
        dest = self._move_unique(claimed.task.path, self.layout.done, stem, stamped=False)
        self._record_path(claimed.task.path.name).unlink(missing_ok=True)
        return dest

    def fail(self, claimed: Claimed, *, reason: str, report: str = "") -> Path:
        """Give a failed task back to ``queue/`` with ``attempts`` +1, or to ``failed/``.

        It goes to ``failed/`` (with ``<task-id>.error.md`` beside it) once attempts reach
        ``max_attempts``, or when ``queue/`` already holds a file of the same name; to
        ``rejected/`` if its front matter no longer parses. Returns where the file went.
        """
        self._require_owner(claimed)
        return self._retire(claimed.task.path, reason, report, claimed.record.run_id)

    def requeue(self, claimed: Claimed, *, reason: str) -> Path:
        """Give a task back to ``queue/`` as it was, without counting an attempt.

        For failures that are not the task's: an outage or an operator's stop. If ``queue/``
        already holds a file of the same name, it is retired as :meth:`fail` would (the file is
        never overwritten). Returns where the file went.
        """
        self._require_owner(claimed)
        path = claimed.task.path
        _mkdir(self.layout.queue)
        try:
            os.link(path, self.layout.queue / path.name, follow_symlinks=False)
        except FileExistsError:
            why = f"{reason}; could not requeue: {path.name!r} already exists in queue/"
            return self._retire(path, why, "", claimed.record.run_id)
        except OSError as exc:
            raise _error("requeue", path, exc) from exc
        _unlink(path)
        self._record_path(path.name).unlink(missing_ok=True)
        return self.layout.queue / path.name

    def quarantine(self, path: Path, reason: str) -> Path:
        """Move a malformed file to ``rejected/`` with ``<stem>.reason.txt`` beside it.

        ``path`` is usually in ``queue/`` or ``running/`` (its claim record is then removed), or
        a planner's staged file. Returns where the file went.
        """
        name = check_name(path.name)
        suffix = Path(name).suffix
        stem = name[: len(name) - len(suffix)]
        dest = self._move_unique(path, self.layout.rejected, stem, ".reason.txt", suffix=suffix)
        _write(
            dest.with_name(dest.name[: len(dest.name) - len(suffix)] + ".reason.txt"),
            reason.rstrip() + "\n",
        )
        if path.parent.resolve() == self.layout.running.resolve():
            self._record_path(name).unlink(missing_ok=True)
        return dest

    def quarantine_text(self, name: str, text: str, reason: str) -> Path:
        """Write ``text`` as ``rejected/<name>`` (a fresh name when taken) with its reason.

        For files an agent wrote: the host keeps a copy of what it read and never moves,
        renames or follows the agent's entry (it may be a link into the user's tree).
        """
        name = check_name(name)
        suffix = Path(name).suffix
        stem = name[: len(name) - len(suffix)]
        _mkdir(self.layout.rejected)
        base = f"{stem}-{file_stamp(self._now())}"
        for candidate in itertools.chain([stem, base], (f"{base}-{n}" for n in itertools.count(1))):
            dest = self.layout.rejected / f"{candidate}{suffix}"
            note = self.layout.rejected / f"{candidate}.reason.txt"
            if os.path.lexists(note):
                continue
            try:
                _write(dest, text)
            except QueueError:
                if os.path.lexists(dest):
                    continue
                raise
            _write(note, reason.rstrip() + "\n", mode="w")
            return dest
        raise AssertionError  # pragma: no cover  (the counter never runs out)

    def recover(
        self, is_alive: Callable[[ClaimRecord], bool], *, orphan_grace_s: float = ORPHAN_GRACE_S
    ) -> list[Path]:
        """Return abandoned running tasks to ``queue/`` (attempts +1) or ``failed/``.

        A task is abandoned when ``is_alive`` says its claim's run is gone, when its claim
        record is unreadable, or when it has no record and is older than ``orphan_grace_s``
        (younger ones may be mid-claim). Returns where each recovered file went.
        """
        moved: list[Path] = []
        for path in discover(self.layout.running):
            record_path = self._record_path(path.name)
            if record_path.exists():
                record = ClaimRecord.load(record_path)
                if record is not None and is_alive(record):
                    continue
            elif time.time() - os.lstat(path).st_ctime < orphan_grace_s:
                continue
            else:
                record = None
                if not self._write_new_record(record_path):
                    continue  # a record appeared meanwhile: someone else acts on it
            # Take the record away by renaming it: of several recoverers, exactly one wins.
            taken = record_path.with_name(f".{record_path.name}.recovering.{os.getpid()}")
            try:
                record_path.rename(taken)
            except FileNotFoundError:
                continue
            taken.unlink(missing_ok=True)
            who = "no claim record" if record is None else f"run {record.run_id!r} is gone"
            if record is not None:
                who += f": {record.host} pid {record.pid}"
            moved.append(self._retire(path, f"abandoned claim ({who})", "", "recover"))
        return moved

    def claim_record(self, path: Path) -> ClaimRecord | None:
        """The claim record of a task file in ``running/``; None when it has none."""
        if path.parent.resolve() != self.layout.running.resolve():
            return None
        return ClaimRecord.load(self._record_path(path.name))

    def listing(self) -> dict[str, list[Path]]:
        """Task files per folder: keys queue, running, done, failed, rejected."""
        lay = self.layout
        listing = {"queue": discover(lay.queue), "running": discover(lay.running)}
        for key, folder in (("done", lay.done), ("failed", lay.failed), ("rejected", lay.rejected)):
            names = sorted(n for n in scan_folder(folder) if _ARCHIVED_RE.match(n))
            listing[key] = [folder / name for name in names]
        return listing

    # -- internals ---------------------------------------------------------------------------

    def _record_path(self, name: str) -> Path:
        return self.layout.running / (check_name(name).removesuffix(".md") + CLAIM_SUFFIX)

    def _write_new_record(self, record_path: Path) -> bool:
        """Exclusively write a recovery record for a record-less file; False if one exists."""
        record = ClaimRecord.mine("recover", iso_utc(self._now()))
        try:
            _write(record_path, json.dumps(asdict(record)) + "\n")
        except QueueError as exc:
            if isinstance(exc.__cause__, FileExistsError):
                return False
            raise
        return True

    def _require_owner(self, claimed: Claimed) -> None:
        _require_in(claimed.task.path, self.layout.running)
        record_path = self._record_path(claimed.task.path.name)
        current = ClaimRecord.load(record_path)
        if current is None or current.run_id != claimed.record.run_id:
            msg = (
                f"{claimed.task.task_id} is no longer claimed by run {claimed.record.run_id!r} "
                f"(record {str(record_path)!r}); another run recovered it, leave it alone"
            )
            raise QueueError(msg)

    def _retire(self, path: Path, reason: str, report: str, run_id: str) -> Path:
        """Rewrite ``attempts`` +1 in ``running/``, then move to ``queue/`` or ``failed/``."""
        name, task_id = path.name, path.name.removesuffix(".md")
        try:
            text = path.read_bytes().decode("utf-8")
            previous = split_front_matter(text)[0].get("attempts", 0)
        except (TaskFileError, UnicodeDecodeError) as exc:
            return self.quarantine(path, f"{reason}; then it could not be re-read: {exc}")
        except OSError as exc:
            raise _error("read", path, exc) from exc
        attempts = (previous if isinstance(previous, int) else 0) + 1
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        _write(tmp, with_attempts(text, attempts), mode="w")
        tmp.replace(path)
        if attempts < self.max_attempts:
            _mkdir(self.layout.queue)
            try:
                os.link(path, self.layout.queue / name, follow_symlinks=False)
            except FileExistsError:
                reason = f"{reason}; could not requeue: {name!r} already exists in queue/"
            except OSError as exc:
                raise _error("requeue", path, exc) from exc
            else:
                _unlink(path)
                self._record_path(name).unlink(missing_ok=True)
                return self.layout.queue / name
        dest = self._move_unique(path, self.layout.failed, task_id, ".error.md")
        error_report = (
            f"# {task_id} failed\n\n- reason: {reason}\n"
            f"- attempts: {attempts} of {self.max_attempts}\n- run: {run_id}\n"
            f"- at: {iso_utc(self._now())}\n\n## Report\n\n{report.rstrip() or '(none)'}\n"
        )
        # Reasons and reports quote agent output; a secret the agent printed stays out.
        _write(dest.with_name(dest.stem + ".error.md"), redact(error_report))
        self._record_path(name).unlink(missing_ok=True)
        return dest

    def _move_unique(
        self,
        src: Path,
        folder: Path,
        stem: str,
        *companions: str,
        stamped: bool = True,
        suffix: str = ".md",
    ) -> Path:
        """Move ``src`` to ``folder/<stem><suffix>``; if taken, add a UTC stamp and/or a counter.

        A name is only used when ``<name><suffix>`` is free too, for each companion suffix.
        """
        check_name(stem)
        _mkdir(folder)
        base = f"{stem}-{file_stamp(self._now())}" if stamped else stem
        later = (f"{base}-{n}" for n in itertools.count(1))
        for name in itertools.chain([stem], [base] if stamped else [], later):
            if any(os.path.lexists(folder / f"{name}{suffix}") for suffix in companions):
                continue
            try:
                os.link(src, folder / f"{name}{suffix}", follow_symlinks=False)
            except FileExistsError:
                continue
            except OSError as exc:
                raise _error("move", src, exc) from exc
            _unlink(src)
            return folder / f"{name}{suffix}"
        raise AssertionError  # pragma: no cover  (the counter never runs out)


def _require_in(path: Path, folder: Path) -> None:
    if path.parent.resolve() != folder.resolve():
        msg = f"{str(path)!r} is not in the folder {str(folder)!r}; refusing to move it"
        raise PathEscapeError(msg)


def _write(path: Path, text: str, *, mode: str = "x") -> None:
    """Write a file; mode "x" (the default) never overwrites one that exists."""
    try:
        with path.open(mode, encoding="utf-8", newline="") as fh:
            fh.write(text)
    except OSError as exc:
        raise _error("write", path, exc) from exc


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _error("create", folder, exc) from exc


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise _error("unlink", path, exc) from exc


def _error(action: str, path: Path, exc: OSError) -> QueueError:
    msg = (
        f"cannot {action} {str(path)!r} ({exc.strerror or exc}); check that the queue folders "
        "are writable by this user and on one filesystem (moves use hard links)"
    )
    return QueueError(msg)

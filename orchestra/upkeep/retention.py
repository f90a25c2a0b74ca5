"""Keep `.orchestra/` bounded: prune old run folders, pack old archived task files, measure
what the folder takes.

Only our own records are pruned (prompts, outputs, handoffs, reports under ``runs/``); task
files in the queue, ``done/``, ``failed/`` and ``rejected/`` are never deleted: beyond
``limits.keep_done`` the oldest are packed into a compressed ``archive-<UTC stamp>.tar.gz`` in
their folder (written beside, renamed into place, and only then are the loose files removed, so a
crash leaves a copy too many, never one too few).
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from orchestra.clock import file_stamp, utc_now

ARCHIVE_PREFIX = "archive-"
ARCHIVE_SUFFIX = ".tar.gz"


def pack_archive(folder: Path, *, keep: int, batch: int | None = None) -> Path | None:
    """Pack every loose file older than the ``keep`` newest task files into one archive.

    Packs only once at least ``batch`` task files (default: a tenth of ``keep``, at least 10)
    are over the limit, so archives hold many files each. Returns the archive written, or None.
    """
    try:
        entries = [p for p in folder.iterdir() if _packable(p)]
    except FileNotFoundError:
        return None
    tasks = sorted((p for p in entries if _is_task_file(p.name)), key=_mtime, reverse=True)
    step = batch if batch is not None else max(10, keep // 10)
    if len(tasks) - keep < max(1, step):
        return None
    cutoff = _mtime(tasks[keep]) if keep else float("inf")
    old = sorted((p for p in entries if _mtime(p) <= cutoff), key=_mtime)
    dest = folder / f"{ARCHIVE_PREFIX}{file_stamp(utc_now())}{ARCHIVE_SUFFIX}"
    tmp = folder / f".{dest.name}.{os.getpid()}.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        for path in old:
            tar.add(path, arcname=path.name, recursive=False)
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    tmp.replace(dest)
    for path in old:
        path.unlink(missing_ok=True)
    return dest


def _packable(path: Path) -> bool:
    name = path.name
    if name.startswith(".") or (name.startswith(ARCHIVE_PREFIX) and name.endswith(ARCHIVE_SUFFIX)):
        return False
    return path.is_file() and not path.is_symlink()


def _is_task_file(name: str) -> bool:
    return name.endswith(".md") and not name.endswith(".error.md")


def _mtime(path: Path) -> float:
    return path.lstat().st_mtime


def prune_runs(runs_dir: Path, *, keep: int, current: str | None = None) -> list[Path]:
    """Remove all but the ``keep`` newest run folders (by modification time); return them."""
    try:
        folders = [p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink()]
    except FileNotFoundError:
        return []
    folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for folder in folders[keep:]:
        if folder.name == current:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def disk_usage(folder: Path) -> int:
    """Bytes used by the regular files under ``folder`` (hard links counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, names in os.walk(folder):
        for name in names:
            try:
                info = (Path(root) / name).lstat()
            except OSError:
                continue
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total

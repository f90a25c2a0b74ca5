"""Keep `.orchestra/` bounded: prune old run folders, measure what the folder takes.

Only our own records are pruned (prompts, outputs, handoffs, reports under ``runs/``); task
files in the queue, ``done/``, ``failed/`` and ``rejected/`` are never deleted.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


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

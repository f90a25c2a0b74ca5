"""`.orchestra/` stays bounded: old run folders are pruned, the JSONL log rotates."""

from __future__ import annotations

import os
from pathlib import Path

from loguru import logger

from orchestra.report.log import setup_logging
from orchestra.upkeep.retention import disk_usage, prune_runs


class TestPruneRuns:
    def test_keeps_the_newest_and_the_current_run(self, tmp_path: Path) -> None:
        """Only the `keep` newest run folders stay; the current run is never pruned."""
        runs = tmp_path / "runs"
        for age, name in enumerate(["r5", "r4", "r3", "r2", "r1"]):
            folder = runs / name
            folder.mkdir(parents=True)
            (folder / "report.md").write_text("x", encoding="utf-8")
            stamp = 1_700_000_000 - age * 60
            os.utime(folder, (stamp, stamp))
        removed = prune_runs(runs, keep=2, current="r1")
        assert sorted(p.name for p in removed) == ["r2", "r3"]
        assert sorted(p.name for p in runs.iterdir()) == ["r1", "r4", "r5"]

    def test_missing_runs_folder_is_fine(self, tmp_path: Path) -> None:
        """No runs folder yet: nothing to prune."""
        assert prune_runs(tmp_path / "nope", keep=1) == []

    def test_disk_usage_counts_hard_links_once(self, tmp_path: Path) -> None:
        """A file hard-linked twice (as queue moves do) is counted once."""
        (tmp_path / "a").write_bytes(b"x" * 100_000)
        single = disk_usage(tmp_path)
        os.link(tmp_path / "a", tmp_path / "b")
        assert disk_usage(tmp_path) == single > 0


class TestLogRotation:
    def test_log_rotates_to_one_old_file(self, tmp_path: Path) -> None:
        """Past max_bytes the log moves to <file>.1 and a new file starts; at most two exist."""
        log = setup_logging(tmp_path / "o.jsonl", console_level=None, max_bytes=10_000)
        for n in range(400):
            logger.info("line {} {}", n, "x" * 50)
        assert (tmp_path / "o.jsonl.1").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["o.jsonl", "o.jsonl.1"]
        assert log.stat().st_size < 10_000 + 500
        assert '"line 399' in log.read_text(encoding="utf-8")

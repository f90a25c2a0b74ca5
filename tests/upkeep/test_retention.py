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


class TestPackArchive:
    """done/ and failed/ beyond limits.keep_done: packed into a .tar.gz, never deleted."""

    @staticmethod
    def _fill(folder: Path, count: int) -> list[str]:
        import os

        folder.mkdir(parents=True, exist_ok=True)
        names = []
        for n in range(count):
            path = folder / f"task-{n:03d}.md"
            path.write_text(f"# Goal\n\ntask {n}\n", encoding="utf-8")
            os.utime(path, (1_000_000 + n, 1_000_000 + n))
            names.append(path.name)
        report = folder / "task-000.error.md"
        report.write_text("why task-000 failed\n", encoding="utf-8")
        os.utime(report, (1_000_000, 1_000_000))
        return names

    def test_keeps_the_newest_loose_and_packs_the_rest(self, tmp_path: Path) -> None:
        """With keep 10 and 25 files: the 10 newest stay, the 15 oldest (and their reports) are
        in one archive, byte for byte."""
        import tarfile

        from orchestra.upkeep.retention import pack_archive

        folder = tmp_path / "done"
        names = self._fill(folder, 25)
        archive = pack_archive(folder, keep=10, batch=1)
        assert archive is not None
        assert archive.name.startswith("archive-")
        assert archive.name.endswith(".tar.gz")
        loose = sorted(p.name for p in folder.glob("*.md"))
        assert loose == names[15:]
        with tarfile.open(archive) as tar:
            packed = sorted(tar.getnames())
            text = tar.extractfile("task-003.md").read().decode()  # type: ignore[union-attr]
        assert packed == sorted([*names[:15], "task-000.error.md"])
        assert text == "# Goal\n\ntask 3\n"

    def test_waits_for_a_batch(self, tmp_path: Path) -> None:
        """Below keep + batch nothing moves, so archives hold many files each."""
        from orchestra.upkeep.retention import pack_archive

        folder = tmp_path / "done"
        self._fill(folder, 15)
        assert pack_archive(folder, keep=10, batch=10) is None
        assert len(list(folder.glob("*.md"))) == 16

    def test_archives_are_not_repacked(self, tmp_path: Path) -> None:
        """A second pass packs only loose files; earlier archives stay as they are."""
        from orchestra.upkeep.retention import pack_archive

        folder = tmp_path / "done"
        self._fill(folder, 30)
        first = pack_archive(folder, keep=20, batch=1)
        assert first is not None
        before = first.read_bytes()
        import time

        time.sleep(0.01)  # a later stamp for the next archive
        second = pack_archive(folder, keep=5, batch=1)
        assert second is not None
        assert second != first
        assert first.read_bytes() == before
        assert len(list(folder.glob("*.md"))) == 5

    def test_missing_folder(self, tmp_path: Path) -> None:
        from orchestra.upkeep.retention import pack_archive

        assert pack_archive(tmp_path / "nope", keep=1) is None

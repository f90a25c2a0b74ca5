"""The task queue on disk (orchestra.queue): the data contract of docs/DESIGN.md, pinned."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from orchestra.clock import file_stamp, iso_utc
from orchestra.errors import ConfigError, PathEscapeError, QueueError
from orchestra.queue.claims import Claimed, ClaimRecord, default_is_alive
from orchestra.queue.layout import QueueLayout
from orchestra.queue.store import TaskQueue
from orchestra.queue.taskfile import discover, discover_names, split_front_matter

VALID = "## Goal\nMake it fast.\n\n## Acceptance criteria\n- it is fast\n"
T0 = datetime(2026, 1, 6, 12, 34, 56, 789_000, tzinfo=UTC)


def fixed_clock(moment: datetime = T0) -> datetime:
    return moment


def write(folder: Path, name: str, text: str = VALID) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode("utf-8"))
    return path


def exited_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def layout(tmp_path: Path) -> QueueLayout:
    return QueueLayout.under(tmp_path)


@pytest.fixture
def queue(layout: QueueLayout) -> TaskQueue:
    return TaskQueue(layout, now=fixed_clock)


def claim(queue: TaskQueue, name: str, text: str = VALID, run_id: str = "run-1") -> Claimed:
    path = write(queue.layout.queue, name, text)
    claimed = queue.claim(path, run_id=run_id)
    assert claimed is not None
    return claimed


def write_record(layout: QueueLayout, task_id: str, *, pid: int, host: str = "") -> Path:
    record = {
        "run_id": "old-run",
        "host": host or socket.gethostname(),
        "pid": pid,
        "claimed_at": "2026-01-01T00:00:00.000Z",
    }
    path = layout.running / f"{task_id}.claim.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


class TestDiscover:
    def test_numeric_order(self, tmp_path: Path) -> None:
        """task-2 comes before task-10 (numbers, not text)."""
        for name in ["task-10.md", "task-2.md", "task-1.md"]:
            write(tmp_path, name)
        assert names(discover(tmp_path)) == ["task-1.md", "task-2.md", "task-10.md"]

    def test_leading_zeros_and_ties(self, tmp_path: Path) -> None:
        """task-01 comes before task-10; equal numbers (task-01, task-1) are ordered by name."""
        for name in ["task-10.md", "task-1.md", "task-01.md", "task-002.md"]:
            write(tmp_path, name)
        expected = ["task-01.md", "task-1.md", "task-002.md", "task-10.md"]
        assert names(discover(tmp_path)) == expected

    def test_order_matches_reference_sort(self, tmp_path: Path) -> None:
        """Many names with and without leading zeros sort as (number, name)."""
        created = [f"task-{'0' * (n % 4)}{n * 37 % 101}.md" for n in range(300)]
        for name in created:
            write(tmp_path, name)
        expected = sorted(set(created), key=lambda name: (int(name[5:-3]), name))
        assert names(discover(tmp_path)) == expected
        assert discover_names(tmp_path) == expected

    def test_odd_names_ignored(self, tmp_path: Path) -> None:
        """Non-ASCII digits and a trailing newline do not make a task name."""
        write(tmp_path, "task-\u0663.md")
        write(tmp_path, "task-1.md\n")
        write(tmp_path, "x\ntask-2.md")
        assert discover(tmp_path) == []

    def test_paths_are_inside_the_folder(self, tmp_path: Path) -> None:
        """discover returns full paths under the folder it was given."""
        write(tmp_path, "task-1.md")
        assert discover(tmp_path) == [tmp_path / "task-1.md"]

    def test_missing_folder_is_empty(self, tmp_path: Path) -> None:
        """A queue folder that does not exist is an empty queue."""
        assert discover(tmp_path / "nope") == []

    def test_folder_that_is_a_file(self, tmp_path: Path) -> None:
        """A queue path that is a regular file raises QueueError naming it and the fix."""
        path = write(tmp_path, "queue")
        with pytest.raises(QueueError, match=r"cannot read the queue folder .*queue.*make it a"):
            discover(path)

    def test_other_names_ignored(self, tmp_path: Path) -> None:
        """Only task-<digits>.md counts: not .txt, letters, case, suffixes or bare task-.md."""
        for name in ["task-1.txt", "task-a.md", "Task-3.md", "task-4.md.bak", "task-.md", "x.md"]:
            write(tmp_path, name)
        write(tmp_path, "task-5.md")
        assert names(discover(tmp_path)) == ["task-5.md"]

    def test_directories_ignored(self, tmp_path: Path) -> None:
        """A folder named like a task is not a task."""
        (tmp_path / "task-1.md").mkdir()
        assert discover(tmp_path) == []

    def test_symlinks_ignored(self, tmp_path: Path) -> None:
        """Symlinks named like tasks are not followed, whether they point outside or inside."""
        queue_dir = tmp_path / "queue"
        inside = write(queue_dir, "task-1.md")
        outside = write(tmp_path, "secret.md")
        (queue_dir / "task-2.md").symlink_to(outside)
        (queue_dir / "task-3.md").symlink_to(inside)
        assert discover(queue_dir) == [inside]


class TestQueueLayout:
    def test_defaults_under_project(self, tmp_path: Path) -> None:
        """The default folders live under <project>/.orchestra/."""
        lay = QueueLayout.under(tmp_path)
        root = tmp_path.resolve() / ".orchestra"
        assert (lay.queue, lay.running, lay.done) == (
            root / "queue",
            root / "running",
            root / "done",
        )
        assert (lay.failed, lay.rejected) == (root / "failed", root / "rejected")

    def test_relative_escape_refused(self, tmp_path: Path) -> None:
        """A relative dir that leaves the project raises PathEscapeError."""
        with pytest.raises(PathEscapeError, match="queue_dir"):
            QueueLayout.under(tmp_path / "project", queue_dir="../elsewhere")

    def test_absolute_taken_as_given(self, tmp_path: Path) -> None:
        """An absolute archive dir outside the project is used as given."""
        lay = QueueLayout.under(tmp_path / "project", archive_dir=str(tmp_path / "archive"))
        assert lay.done == tmp_path / "archive"

    def test_folders_must_differ(self, tmp_path: Path) -> None:
        """Two roles sharing one folder is a ConfigError."""
        with pytest.raises(ConfigError, match="five different folders"):
            QueueLayout.under(tmp_path, archive_dir=".orchestra/queue")


class TestClaim:
    def test_moves_into_running(self, queue: TaskQueue) -> None:
        """A claim moves the file from queue/ into running/ unchanged."""
        claimed = claim(queue, "task-03.md")
        assert claimed.task.path == queue.layout.running / "task-03.md"
        assert claimed.task.path.read_text(encoding="utf-8") == VALID
        assert claimed.task.task_id == "task-03"
        assert queue.pending() == []

    def test_writes_claim_record(self, queue: TaskQueue) -> None:
        """running/<task-id>.claim.json holds run_id, host, pid, claimed_at (ISO UTC) and the
        owner's start time."""
        from orchestra.queue.claims import process_start

        claimed = claim(queue, "task-03.md", run_id="run-42")
        data = json.loads((queue.layout.running / "task-03.claim.json").read_text("utf-8"))
        assert data == {
            "run_id": "run-42",
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "claimed_at": "2026-01-06T12:34:56.789Z",
            "started": process_start(os.getpid()),
        }
        assert claimed.record == ClaimRecord(**data)

    def test_second_claimer_gets_none(self, layout: QueueLayout) -> None:
        """Two claimers of the same file: the first wins, the second gets None."""
        path = write(layout.queue, "task-1.md")
        first, second = TaskQueue(layout), TaskQueue(layout)
        assert first.claim(path, run_id="a") is not None
        assert second.claim(path, run_id="b") is None
        assert json.loads((layout.running / "task-1.claim.json").read_text())["run_id"] == "a"

    def test_concurrent_claimers_exactly_one_wins(self, layout: QueueLayout) -> None:
        """Eight threads claiming one file at once: exactly one gets it."""
        path = write(layout.queue, "task-1.md")
        barrier = threading.Barrier(8)
        results: list[Claimed | None] = []

        def worker(n: int) -> None:
            barrier.wait()
            results.append(TaskQueue(layout).claim(path, run_id=f"run-{n}"))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(r is not None for r in results) == 1
        assert names(discover(layout.running)) == ["task-1.md"]

    def test_running_name_taken(self, queue: TaskQueue) -> None:
        """When running/ already holds the name, the claim returns None and queue/ is untouched."""
        write(queue.layout.running, "task-1.md", "older")
        path = write(queue.layout.queue, "task-1.md")
        assert queue.claim(path, run_id="r") is None
        assert path.read_text(encoding="utf-8") == VALID
        assert (queue.layout.running / "task-1.md").read_text(encoding="utf-8") == "older"

    def test_malformed_is_quarantined(self, queue: TaskQueue) -> None:
        """A file without a Goal goes to rejected/ with <task-id>.reason.txt; claim is None."""
        path = write(queue.layout.queue, "task-1.md", "## Acceptance criteria\n- a\n")
        assert queue.claim(path, run_id="r") is None
        rejected = queue.layout.rejected
        assert (rejected / "task-1.md").read_text(
            encoding="utf-8"
        ) == "## Acceptance criteria\n- a\n"
        assert "'Goal'" in (rejected / "task-1.reason.txt").read_text(encoding="utf-8")
        assert list(queue.layout.running.iterdir()) == []

    def test_oversize_is_quarantined(self, layout: QueueLayout) -> None:
        """A file over max_task_chars is quarantined with the limit in the reason."""
        queue = TaskQueue(layout, max_task_chars=20)
        path = write(layout.queue, "task-1.md")
        assert queue.claim(path, run_id="r") is None
        assert "over the limit of 20" in (layout.rejected / "task-1.reason.txt").read_text()

    def test_path_outside_queue_refused(self, queue: TaskQueue, tmp_path: Path) -> None:
        """Claiming a file that is not in queue/ raises PathEscapeError."""
        path = write(tmp_path / "elsewhere", "task-1.md")
        with pytest.raises(PathEscapeError):
            queue.claim(path, run_id="r")
        assert path.exists()

    def test_symlink_is_quarantined_not_followed(self, queue: TaskQueue, tmp_path: Path) -> None:
        """A symlink claimed by name is moved to rejected/ as a link; its target is untouched."""
        target = write(tmp_path, "secret.md")
        link = queue.layout.queue / "task-1.md"
        queue.layout.queue.mkdir(parents=True)
        link.symlink_to(target)
        assert queue.claim(link, run_id="r") is None
        assert (queue.layout.rejected / "task-1.md").is_symlink()
        assert target.read_text(encoding="utf-8") == VALID

    def test_vanished_file(self, queue: TaskQueue) -> None:
        """A file that is gone by the time of the claim gives None."""
        assert queue.claim(queue.layout.queue / "task-1.md", run_id="r") is None


class TestArchive:
    def test_exact_archive_name(self, queue: TaskQueue) -> None:
        """The archive name is <task-id>-<UTC ISO with ':' and '.' as '-'>.md, milliseconds."""
        claimed = claim(queue, "task-03.md")
        dest = queue.archive(claimed)
        assert dest == queue.layout.done / "task-03-2026-01-06T12-34-56-789Z.md"
        assert dest.read_text(encoding="utf-8") == VALID
        assert list(queue.layout.running.iterdir()) == []

    def test_non_utc_clock_is_converted(self) -> None:
        """A clock in another zone is stamped in UTC, truncated to milliseconds."""
        plus_two = T0.astimezone(timezone(timedelta(hours=2)))
        assert plus_two.hour == 14
        assert file_stamp(plus_two) == "2026-01-06T12-34-56-789Z"
        assert iso_utc(plus_two) == "2026-01-06T12:34:56.789Z"

    def test_no_clobbering_in_done(self, queue: TaskQueue) -> None:
        """When the archive name is taken, a counter is added; the older file is untouched."""
        taken = write(queue.layout.done, "task-03-2026-01-06T12-34-56-789Z.md", "older")
        dest = queue.archive(claim(queue, "task-03.md"))
        assert dest.name == "task-03-2026-01-06T12-34-56-789Z-1.md"
        assert taken.read_text(encoding="utf-8") == "older"
        assert dest.read_text(encoding="utf-8") == VALID

    def test_refused_when_no_longer_ours(self, queue: TaskQueue) -> None:
        """Archiving a task whose claim record now names another run raises QueueError."""
        claimed = claim(queue, "task-1.md", run_id="mine")
        write_record(queue.layout, "task-1", pid=os.getpid())  # run_id "old-run"
        with pytest.raises(QueueError, match="no longer claimed by run 'mine'"):
            queue.archive(claimed)
        assert claimed.task.path.exists()


class TestFail:
    BODY = "## Goal\r\nFix it.  \r\n\r\n## Acceptance criteria\r\n- works ✓\r\n\r\n"

    def test_back_to_queue_with_attempts_plus_one(self, queue: TaskQueue) -> None:
        """A failure puts the file back in queue/ with attempts +1 and the body byte-for-byte."""
        text = "---\ntitle: Fix\nattempts: 1\nowner: me\n---\n" + self.BODY
        claimed = claim(queue, "task-1.md", text)
        dest = queue.fail(claimed, reason="tests failed")
        assert dest == queue.layout.queue / "task-1.md"
        raw = dest.read_bytes()
        assert raw.endswith(self.BODY.encode("utf-8"))
        front, body = split_front_matter(raw.decode("utf-8"))
        assert front == {"title": "Fix", "attempts": 2, "owner": "me"}
        assert body == self.BODY
        assert list(queue.layout.running.iterdir()) == []

    def test_adds_front_matter(self, queue: TaskQueue) -> None:
        """A file without front matter gets `attempts: 1`; the old text follows unchanged."""
        dest = queue.fail(claim(queue, "task-1.md"), reason="x")
        assert dest.read_text(encoding="utf-8") == "---\nattempts: 1\n---\n" + VALID

    def test_to_failed_at_max_attempts(self, queue: TaskQueue) -> None:
        """At max_attempts the file goes to failed/ with <task-id>.error.md (reason + report)."""
        claimed = claim(queue, "task-1.md", "---\nattempts: 2\n---\n" + VALID)
        dest = queue.fail(claimed, reason="verify failed", report="3 tests red")
        assert dest == queue.layout.failed / "task-1.md"
        assert split_front_matter(dest.read_text("utf-8")) == ({"attempts": 3}, VALID)
        report = (queue.layout.failed / "task-1.error.md").read_text(encoding="utf-8")
        assert "verify failed" in report
        assert "3 tests red" in report
        assert "attempts: 3 of 3" in report
        assert queue.pending() == []

    def test_repeated_failures_reach_failed(self, queue: TaskQueue) -> None:
        """With max_attempts 3, three failures go queue/, queue/, then failed/."""
        path = write(queue.layout.queue, "task-1.md")
        went = []
        for n in range(3):
            claimed = queue.claim(path, run_id=f"run-{n}")
            assert claimed is not None
            assert claimed.task.attempts == n
            went.append(queue.fail(claimed, reason="no").parent.name)
        assert went == ["queue", "queue", "failed"]

    def test_no_clobbering_in_failed(self, queue: TaskQueue) -> None:
        """A taken name in failed/ gives a stamped name; older files and reports are untouched."""
        write(queue.layout.failed, "task-1.md", "older")
        write(queue.layout.failed, "task-1.error.md", "older report")
        claimed = claim(queue, "task-1.md", "---\nattempts: 2\n---\n" + VALID)
        dest = queue.fail(claimed, reason="no")
        assert dest.name == "task-1-2026-01-06T12-34-56-789Z.md"
        assert (queue.layout.failed / "task-1-2026-01-06T12-34-56-789Z.error.md").exists()
        assert (queue.layout.failed / "task-1.md").read_text(encoding="utf-8") == "older"
        assert (queue.layout.failed / "task-1.error.md").read_text() == "older report"

    def test_front_matter_broken_while_running(self, queue: TaskQueue) -> None:
        """A file whose front matter no longer parses at failure time goes to rejected/."""
        claimed = claim(queue, "task-1.md")
        claimed.task.path.write_text("---\nattempts: [\n---\n" + VALID, encoding="utf-8")
        dest = queue.fail(claimed, reason="no")
        assert dest == queue.layout.rejected / "task-1.md"
        assert "not valid YAML" in (queue.layout.rejected / "task-1.reason.txt").read_text()

    def test_requeue_blocked_by_same_name(self, queue: TaskQueue) -> None:
        """When queue/ already holds a new file of that name, the failed one goes to failed/."""
        claimed = claim(queue, "task-1.md")
        newer = write(queue.layout.queue, "task-1.md", "newer task")
        dest = queue.fail(claimed, reason="no")
        assert dest.parent == queue.layout.failed
        assert newer.read_text(encoding="utf-8") == "newer task"
        assert "already exists in queue/" in (queue.layout.failed / "task-1.error.md").read_text()


class TestQuarantine:
    def test_reason_beside_file(self, queue: TaskQueue) -> None:
        """quarantine moves a queue file to rejected/ and writes the reason beside it."""
        path = write(queue.layout.queue, "task-1.md", "junk")
        dest = queue.quarantine(path, "no goal")
        assert dest == queue.layout.rejected / "task-1.md"
        assert dest.read_text(encoding="utf-8") == "junk"
        assert (queue.layout.rejected / "task-1.reason.txt").read_text() == "no goal\n"

    def test_no_clobbering_in_rejected(self, queue: TaskQueue) -> None:
        """A taken name in rejected/ gives a stamped name; the older file and reason stay."""
        write(queue.layout.rejected, "task-1.md", "older")
        write(queue.layout.rejected, "task-1.reason.txt", "older reason")
        dest = queue.quarantine(write(queue.layout.queue, "task-1.md", "junk"), "bad")
        assert dest.name == "task-1-2026-01-06T12-34-56-789Z.md"
        assert (queue.layout.rejected / "task-1-2026-01-06T12-34-56-789Z.reason.txt").exists()
        assert (queue.layout.rejected / "task-1.md").read_text(encoding="utf-8") == "older"
        assert (queue.layout.rejected / "task-1.reason.txt").read_text() == "older reason"

    def test_counter_after_stamp(self, queue: TaskQueue) -> None:
        """When the stamped name is taken too, a counter follows the stamp."""
        write(queue.layout.rejected, "task-1.md", "a")
        write(queue.layout.rejected, "task-1-2026-01-06T12-34-56-789Z.md", "b")
        dest = queue.quarantine(write(queue.layout.queue, "task-1.md", "junk"), "bad")
        assert dest.name == "task-1-2026-01-06T12-34-56-789Z-1.md"

    def test_staged_file_elsewhere(self, queue: TaskQueue, tmp_path: Path) -> None:
        """A planner's staged file (any folder, any name) keeps its name in rejected/."""
        path = write(tmp_path / "staging", "01-add-login.md", "junk")
        dest = queue.quarantine(path, "no goal")
        assert dest == queue.layout.rejected / "01-add-login.md"
        assert (queue.layout.rejected / "01-add-login.reason.txt").read_text() == "no goal\n"
        assert not path.exists()

    def test_name_without_suffix(self, queue: TaskQueue, tmp_path: Path) -> None:
        """A file without a suffix gets <name>.reason.txt beside it."""
        dest = queue.quarantine(write(tmp_path, "notes", "junk"), "bad")
        assert dest == queue.layout.rejected / "notes"
        assert (queue.layout.rejected / "notes.reason.txt").exists()


class TestRecover:
    def test_dead_claim_requeued(self, queue: TaskQueue) -> None:
        """A claim whose pid has exited goes back to queue/ with attempts +1."""
        write(queue.layout.running, "task-1.md")
        write_record(queue.layout, "task-1", pid=exited_pid())
        moved = queue.recover(default_is_alive)
        assert moved == [queue.layout.queue / "task-1.md"]
        assert split_front_matter(moved[0].read_text("utf-8")) == ({"attempts": 1}, VALID)
        assert list(queue.layout.running.iterdir()) == []

    def test_live_claim_kept(self, queue: TaskQueue) -> None:
        """A claim held by a running process (this one) is left alone."""
        claimed = claim(queue, "task-1.md")
        assert queue.recover(default_is_alive) == []
        assert claimed.task.path.exists()
        queue.archive(claimed)  # still ours

    def test_other_host_kept(self, queue: TaskQueue) -> None:
        """A claim from another host is assumed alive."""
        write(queue.layout.running, "task-1.md")
        write_record(queue.layout, "task-1", pid=exited_pid(), host="elsewhere.invalid")
        assert queue.recover(default_is_alive) == []

    def test_dead_claim_over_limit_fails(self, queue: TaskQueue) -> None:
        """A dead claim at the last attempt goes to failed/ with an error report."""
        write(queue.layout.running, "task-1.md", "---\nattempts: 2\n---\n" + VALID)
        write_record(queue.layout, "task-1", pid=exited_pid())
        assert queue.recover(default_is_alive) == [queue.layout.failed / "task-1.md"]
        assert "abandoned claim" in (queue.layout.failed / "task-1.error.md").read_text()

    def test_running_file_without_record(self, queue: TaskQueue) -> None:
        """A running file with no claim record (crash mid-claim) is recovered after the grace."""
        write(queue.layout.running, "task-1.md")
        assert queue.recover(default_is_alive, orphan_grace_s=0) == [
            queue.layout.queue / "task-1.md"
        ]

    def test_fresh_file_without_record_kept(self, queue: TaskQueue) -> None:
        """A record-less running file younger than the grace may be mid-claim: left alone."""
        write(queue.layout.running, "task-1.md")
        assert queue.recover(default_is_alive) == []
        assert not (queue.layout.running / "task-1.claim.json").exists()

    def test_unreadable_record_recovered(self, queue: TaskQueue) -> None:
        """A claim record that is not valid JSON counts as abandoned."""
        write(queue.layout.running, "task-1.md")
        write(queue.layout.running, "task-1.claim.json", "{not json")
        assert queue.recover(default_is_alive) == [queue.layout.queue / "task-1.md"]

    def test_is_alive_gets_the_record(self, queue: TaskQueue) -> None:
        """is_alive is asked with the record read from disk."""
        write(queue.layout.running, "task-1.md")
        write_record(queue.layout, "task-1", pid=12345)
        seen: list[ClaimRecord] = []

        def alive(record: ClaimRecord) -> bool:
            seen.append(record)
            return True

        assert queue.recover(alive) == []
        assert [(r.run_id, r.pid) for r in seen] == [("old-run", 12345)]

    def test_missing_running_folder(self, queue: TaskQueue) -> None:
        """With no running/ folder there is nothing to recover."""
        assert queue.recover(default_is_alive) == []


class TestDefaultIsAlive:
    def test_own_pid_alive(self) -> None:
        """This process is alive."""
        assert default_is_alive(ClaimRecord("r", socket.gethostname(), os.getpid(), ""))

    def test_exited_pid_dead(self) -> None:
        """A reaped child's pid is dead."""
        assert not default_is_alive(ClaimRecord("r", socket.gethostname(), exited_pid(), ""))

    def test_other_host_alive(self) -> None:
        """Another host's pid cannot be checked: assumed alive."""
        assert default_is_alive(ClaimRecord("r", "elsewhere.invalid", exited_pid(), ""))

    def test_reused_pid_is_dead(self) -> None:
        """After a container restart the claim's pid belongs to another process: the claim is
        dead. Here: a live pid (this process) whose start time is not the recorded one."""
        from orchestra.queue.claims import process_start

        started = process_start(os.getpid())
        assert started is not None
        mine = ClaimRecord("r", socket.gethostname(), os.getpid(), "", started)
        assert default_is_alive(mine)
        reused = ClaimRecord("r", socket.gethostname(), os.getpid(), "", started + 1)
        assert not default_is_alive(reused)

    def test_claim_records_the_start_time(self, queue: TaskQueue) -> None:
        """A claim names its owner's start time, and recover() leaves a live claim alone."""
        from orchestra.queue.claims import process_start

        claimed = claim(queue, "task-1.md")
        assert claimed.record.started == process_start(os.getpid())
        assert queue.recover(default_is_alive) == []

    def test_recover_takes_a_claim_whose_pid_was_reused(self, queue: TaskQueue) -> None:
        """A claim record naming this pid with another start time is recovered (attempt +1)."""
        claimed = claim(queue, "task-1.md")
        record = queue.layout.running / "task-1.claim.json"
        data = json.loads(record.read_text())
        data["started"] = int(data["started"]) + 1
        record.write_text(json.dumps(data))
        moved = queue.recover(default_is_alive)
        assert [p.name for p in moved] == ["task-1.md"]
        assert claimed.task.task_id == "task-1"

    def test_container_owner_label_with_start_time(self) -> None:
        """Step containers' owner labels carry the start time too; old labels still parse."""
        from orchestra.queue.claims import owner_alive, owner_label

        label = owner_label()
        assert label.count(":") == 2
        assert owner_alive(label)
        host, pid, start = label.split(":")
        assert not owner_alive(f"{host}:{pid}:{int(start) + 1}")
        assert owner_alive(f"{host}:{pid}")
        assert not owner_alive(f"{host}:{exited_pid()}")
        assert not owner_alive("garbage")


class TestListing:
    def test_lists_every_folder(self, queue: TaskQueue) -> None:
        """listing has the five keys, task files only (no reports, reasons or records)."""
        write(queue.layout.queue, "task-2.md")
        running = claim(queue, "task-1.md")
        queue.archive(claim(queue, "task-3.md"))
        queue.quarantine(write(queue.layout.queue, "task-4.md", "junk"), "bad")
        queue.fail(claim(queue, "task-5.md", "---\nattempts: 2\n---\n" + VALID), reason="no")
        listing = queue.listing()
        assert {k: names(v) for k, v in listing.items()} == {
            "queue": ["task-2.md"],
            "running": ["task-1.md"],
            "done": ["task-3-2026-01-06T12-34-56-789Z.md"],
            "failed": ["task-5.md"],
            "rejected": ["task-4.md"],
        }
        assert running.task.path in listing["running"]

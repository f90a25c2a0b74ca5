"""The gates a cycle passes before it starts, and the should-stop check of a running step, without running cycles."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestra.errors import CycleSkipped
from orchestra.policy.gates import (
    check_daily_budget,
    check_start,
    count_cycles_today,
    cycle_lock,
    human_activity,
    record_cycle_start,
)
from orchestra.policy.killswitch import check_kill_switch, kill_switch_reason, stop_file
from orchestra.policy.should_stop import ShouldStop

EMAIL = "orchestra@localhost"


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("a\n", encoding="utf-8")
    _git(root, "add", "a.txt")
    old = "2001-01-01T00:00:00Z"
    env = {"GIT_AUTHOR_DATE": old, "GIT_COMMITTER_DATE": old, "PATH": "/usr/bin:/bin"}
    _git(root, "-c", "user.name=H", "-c", "user.email=h@x", "commit", "-qm", "a", env=env)
    return root


class TestKillSwitch:
    def test_absent(self, tmp_path: Path) -> None:
        assert kill_switch_reason(tmp_path) == ""
        check_kill_switch(tmp_path)

    def test_present_skips(self, tmp_path: Path) -> None:
        stop_file(tmp_path).parent.mkdir(parents=True)
        stop_file(tmp_path).write_text("stop\n", encoding="utf-8")
        assert "orchestra resume" in kill_switch_reason(tmp_path)
        with pytest.raises(CycleSkipped, match="kill switch"):
            check_kill_switch(tmp_path)


class TestCycleLock:
    def test_second_holder_skips(self, tmp_path: Path) -> None:
        """While one holder has the lock, a second gets CycleSkipped naming the first's pid."""
        with (
            cycle_lock(tmp_path),
            pytest.raises(CycleSkipped, match="already running"),
            cycle_lock(tmp_path),
        ):
            pass

    def test_released_after(self, tmp_path: Path) -> None:
        with cycle_lock(tmp_path):
            pass
        with cycle_lock(tmp_path):
            pass


class TestDailyBudget:
    def test_counts_only_today(self, tmp_path: Path) -> None:
        """Cycles of other UTC days do not count."""
        yesterday = datetime(2026, 1, 5, 23, 59, tzinfo=UTC)
        today = datetime(2026, 1, 6, 0, 1, tzinfo=UTC)
        record_cycle_start(tmp_path, "a", now=yesterday)
        record_cycle_start(tmp_path, "b", now=today)
        assert count_cycles_today(tmp_path, now=today) == 1
        check_daily_budget(tmp_path, 2, now=today)
        with pytest.raises(CycleSkipped, match=r"limits\.max_cycles_per_day 1"):
            check_daily_budget(tmp_path, 1, now=today)

    def test_earlier_days_are_dropped(self, tmp_path: Path) -> None:
        """cycles.log keeps only today's lines: it does not grow across weeks."""
        from orchestra.policy.gates import CYCLES_LOG

        for day in range(1, 6):
            for n in range(3):
                record_cycle_start(
                    tmp_path, f"r{day}{n}", now=datetime(2026, 1, day, n, tzinfo=UTC)
                )
        lines = (tmp_path / CYCLES_LOG).read_text(encoding="utf-8").splitlines()
        assert len(lines) == 3
        assert all(line.startswith("2026-01-05") for line in lines)
        assert count_cycles_today(tmp_path, now=datetime(2026, 1, 5, 12, tzinfo=UTC)) == 3


class TestIdleGate:
    def test_old_human_commit_is_idle(self, repo: Path) -> None:
        assert human_activity(repo, idle_minutes=30, orchestra_email=EMAIL) is None

    def test_recent_human_commit_is_active(self, repo: Path) -> None:
        reason = human_activity(repo, idle_minutes=30, orchestra_email=EMAIL, now=978307200 + 60)
        assert reason is not None
        assert "h@x" in reason

    def test_uncommitted_change_is_active(self, repo: Path) -> None:
        (repo / "a.txt").write_text("changed\n", encoding="utf-8")
        reason = human_activity(repo, idle_minutes=30, orchestra_email=EMAIL)
        assert reason is not None
        assert "uncommitted changes" in reason

    def test_orchestra_state_is_not_human_work(self, repo: Path) -> None:
        (repo / ".orchestra").mkdir()
        (repo / ".orchestra" / "x").write_text("x", encoding="utf-8")
        assert human_activity(repo, idle_minutes=30, orchestra_email=EMAIL) is None

    def test_orchestra_config_files_are_not_human_work(self, repo: Path) -> None:
        """orchestra.yaml as `orchestra init` leaves it (untracked), an edited tracked one and
        orchestra.local.yaml are Orchestra's own files: a scheduled cycle is not skipped."""
        (repo / "orchestra.yaml").write_text("workers: {}\n", encoding="utf-8")
        (repo / "orchestra.local.yaml").write_text("workers: {}\n", encoding="utf-8")
        assert human_activity(repo, idle_minutes=30, orchestra_email=EMAIL) is None
        _git(repo, "add", "orchestra.yaml")
        old = "2001-01-01T00:00:00Z"
        env = {"GIT_AUTHOR_DATE": old, "GIT_COMMITTER_DATE": old, "PATH": "/usr/bin:/bin"}
        _git(repo, "-c", "user.name=H", "-c", "user.email=h@x", "commit", "-qm", "c", env=env)
        (repo / "orchestra.yaml").write_text("workers: {a: 1}\n", encoding="utf-8")
        assert human_activity(repo, idle_minutes=30, orchestra_email=EMAIL) is None
        (repo / "notes.txt").write_text("mine\n", encoding="utf-8")
        reason = human_activity(repo, idle_minutes=30, orchestra_email=EMAIL)
        assert reason is not None
        assert "notes.txt" in reason

    def test_committing_orchestra_yaml_is_not_human_work(self, repo: Path) -> None:
        """The commit that adds orchestra.yaml (what `orchestra init` asks for) does not hold
        the next scheduled cycle back for idle_minutes; a commit of the user's code does."""
        (repo / "orchestra.yaml").write_text("workers: {}\n", encoding="utf-8")
        _git(repo, "add", "orchestra.yaml")
        _git(repo, "-c", "user.name=H", "-c", "user.email=h@x", "commit", "-qm", "config")
        assert human_activity(repo, idle_minutes=30, orchestra_email=EMAIL) is None
        (repo / "a.txt").write_text("b\n", encoding="utf-8")
        _git(repo, "-c", "user.name=H", "-c", "user.email=h@x", "commit", "-qam", "code")
        reason = human_activity(repo, idle_minutes=30, orchestra_email=EMAIL)
        assert reason is not None
        assert "a commit by h@x" in reason

    def test_check_start_gates_only_scheduled(self, repo: Path) -> None:
        """An ad-hoc cycle passes the idle gate; a scheduled one is skipped."""
        (repo / "a.txt").write_text("changed\n", encoding="utf-8")
        check_start(repo, scheduled=False, idle_minutes=30, max_cycles=1, email=EMAIL)
        with pytest.raises(CycleSkipped, match="human activity"):
            check_start(repo, scheduled=True, idle_minutes=30, max_cycles=1, email=EMAIL)


class TestShouldStop:
    def test_kill_switch(self, tmp_path: Path) -> None:
        watch = ShouldStop(tmp_path)
        assert watch() is None
        stop_file(tmp_path).parent.mkdir(parents=True)
        stop_file(tmp_path).write_text("", encoding="utf-8")
        assert "kill switch" in (watch() or "")

    def test_cancel_is_polled_sparingly(self, tmp_path: Path) -> None:
        """The (slow) cancel check runs at most once per interval, the first after one interval
        (a short step reads nothing); once cancelled, it stays so."""
        calls: list[float] = []

        def cancelled() -> bool:
            calls.append(time.monotonic())
            return len(calls) >= 2

        watch = ShouldStop(tmp_path, cancelled, api_interval=0.2)
        assert watch() is None
        assert calls == []
        time.sleep(0.25)
        assert watch() is None
        assert watch() is None
        assert len(calls) == 1
        time.sleep(0.25)
        assert watch() == "the flow run was cancelled"
        assert watch() == "the flow run was cancelled"
        assert len(calls) == 2

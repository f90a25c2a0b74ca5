"""What an agent writes cannot run or be read on the host; config errors keep secrets."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestra.config.loader import load_config
from orchestra.config.models import WorkerProfile
from orchestra.engine.step import run_step
from orchestra.errors import ConfigError
from orchestra.policy.gates import human_activity
from orchestra.runtime.process import ProcessRuntime
from orchestra.testing import StepFactory
from orchestra.workspace.agentgit import reset_agent_git
from orchestra.workspace.clone import commit_all, create_workspace


def _repo(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "a.txt").write_text("a\n", encoding="utf-8")
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(path), "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-qm", "i"],
        check=True,
    )
    return path


class TestPlantedGitConfig:
    def test_fsmonitor_and_hooks_planted_in_the_clone_never_run(self, tmp_path: Path) -> None:
        """A clone's .git/config and hooks written by an agent do not execute on commit."""
        project = _repo(tmp_path / "p")
        ws = create_workspace(project, tmp_path / "wt", tmp_path / "gd", "task-01", "main")
        reset_agent_git(ws, str(ws.objects_dir))
        marker = tmp_path / "PWNED"
        with (ws.path / ".git" / "config").open("a", encoding="utf-8") as fh:
            fh.write(f'[core]\n\tfsmonitor = "touch {marker}; false"\n')
        hook = ws.path / ".git" / "hooks" / "post-commit"
        hook.parent.mkdir(exist_ok=True)
        hook.write_text(f"#!/bin/sh\ntouch {marker}\n", encoding="utf-8")
        hook.chmod(0o755)
        (ws.path / "b.txt").write_text("b\n", encoding="utf-8")
        assert commit_all(ws, message="m", author_name="O", author_email="o@x") is not None
        assert not marker.exists()


class TestOutputFolderLinks:
    def test_symlinks_in_the_output_folder_are_neither_read_nor_written_through(
        self, tmp_path: Path, implement_step: StepFactory
    ) -> None:
        """handoff.md → host secret is not read; result.json → host file is not overwritten."""
        secret = tmp_path / "host_secret"
        secret.write_text("TOP-SECRET-CONTENT\n", encoding="utf-8")
        victim = tmp_path / "host_file"
        victim.write_text("keep me\n", encoding="utf-8")
        script = (
            "import os, sys; out = sys.argv[1]; "
            f"os.symlink({str(secret)!r}, os.path.join(out, 'handoff.md')); "
            f"os.symlink({str(victim)!r}, os.path.join(out, 'result.json')); print('done')"
        )
        profile = WorkerProfile(
            role="coder",
            agent="command",
            runtime="process",
            command=[sys.executable, "-c", script, "{output_dir}"],
        )
        ctx = implement_step(profile)
        record = run_step(ctx, ProcessRuntime(kill_grace=0.5))
        assert "TOP-SECRET" not in record.handoff.summary
        assert victim.read_text(encoding="utf-8") == "keep me\n"
        assert not (tmp_path / "out" / "result.json").is_symlink()


class TestConfigErrorsKeepSecrets:
    def test_invalid_worker_with_env_does_not_echo_its_values(self, tmp_path: Path) -> None:
        """A whole-profile validation error names file and key but never prints env values."""
        (tmp_path / "orchestra.yaml").write_text(
            "workers:\n  coder: {role: coder, agent: command, command: null, runtime: process,"
            " env: {OPENAI_API_KEY: sk-SUPERSECRET-123456}}\n",
            encoding="utf-8",
        )
        with pytest.raises(ConfigError) as caught:
            load_config(tmp_path, environ={}, user_file=tmp_path / "none.yaml")
        assert "orchestra.yaml" in str(caught.value)
        assert "sk-SUPERSECRET" not in str(caught.value)


class TestIdleGateIgnoresOurState:
    def test_orchestra_folder_is_not_human_activity(self, tmp_path: Path) -> None:
        """An untracked .orchestra/ (not excluded) does not count as a human's uncommitted change."""
        project = _repo(tmp_path / "p")
        (project / ".orchestra" / "queue").mkdir(parents=True)
        (project / ".orchestra" / "queue" / "task-1.md").write_text("x", encoding="utf-8")
        later = time.time() + 3600 * 24
        assert human_activity(project, idle_minutes=30, orchestra_email="o@x", now=later) is None
        (project / "notes.txt").write_text("mine\n", encoding="utf-8")
        reason = human_activity(project, idle_minutes=30, orchestra_email="o@x", now=later)
        assert reason is not None
        assert "notes.txt" in reason


class TestClaimsAreNotShared:
    def test_a_running_task_claimed_by_another_process_is_refused(self, tmp_path: Path) -> None:
        """Running a task from running/ that another live process claimed raises QueueError."""
        import json

        from orchestra.engine.settle import load_claim
        from orchestra.errors import QueueError
        from orchestra.queue.layout import QueueLayout
        from orchestra.queue.store import TaskQueue

        queue = TaskQueue(QueueLayout.under(tmp_path))
        queue.layout.queue.mkdir(parents=True)
        task = queue.layout.queue / "task-1.md"
        task.write_text("# Goal\nx\n# Acceptance criteria\ny\n", encoding="utf-8")
        claimed = queue.claim(task, run_id="mine")
        assert claimed is not None
        assert load_claim(queue, claimed.task.path).record.run_id == "mine"
        record_path = queue.layout.running / "task-1.claim.json"
        record = json.loads(record_path.read_text(encoding="utf-8"))
        record["pid"] = 1  # init: alive, and not us
        record_path.write_text(json.dumps(record), encoding="utf-8")
        with pytest.raises(QueueError, match="claimed by run 'mine' \\(pid 1"):
            load_claim(queue, claimed.task.path)

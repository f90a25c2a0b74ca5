"""One step as the agent sees it: the prompt it gets, with paths of the place it runs in."""

from __future__ import annotations

from pathlib import Path

from orchestra.config.models import DockerConfig, WorkerProfile
from orchestra.engine.step import _invocation
from orchestra.runtime import view_of
from orchestra.testing import StepFactory


class TestPromptPaths:
    def test_host_paths_in_task_text_become_container_paths(
        self, tmp_path: Path, implement_step: StepFactory
    ) -> None:
        """Under Docker, host workspace/output paths inside the task text are rewritten."""
        workspace, out = tmp_path / "ws", tmp_path / "out"
        out.mkdir()
        profile = WorkerProfile(role="coder", agent="opencode", docker=DockerConfig(image="img"))
        task = f"edit {workspace}/calc/ops.py, log to {out}/x.txt"
        ctx = implement_step(profile, task=task, carry="-")
        _invocation(ctx, view_of(profile.runtime), {})
        prompt = (out / "prompt.md").read_text(encoding="utf-8")
        assert str(tmp_path) not in prompt
        assert "edit /workspace/calc/ops.py, log to /orchestra/out/x.txt" in prompt

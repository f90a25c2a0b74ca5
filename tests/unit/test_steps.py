"""One step as the agent sees it: the prompt it gets, with paths of the place it runs in."""

from __future__ import annotations

from pathlib import Path

from orchestra.config import DockerConfig, WorkerProfile
from orchestra.steps import StepContext, _invocation


class TestPromptPaths:
    def test_host_paths_in_task_text_become_container_paths(self, tmp_path: Path) -> None:
        """Under Docker, host workspace/output paths inside the task text are rewritten."""
        workspace, out = tmp_path / "ws", tmp_path / "out"
        out.mkdir()
        profile = WorkerProfile(role="coder", agent="opencode", docker=DockerConfig(image="img"))
        ctx = StepContext(
            project_id="p",
            run_id="r",
            task_id="task-01",
            step_id="implement",
            title="Implement",
            worker_id="coder",
            profile=profile,
            prompt_name="implement",
            workspace=workspace,
            output_dir=out,
            timeout=30,
            model=None,
            values={"task": f"edit {workspace}/calc/ops.py, log to {out}/x.txt", "carry": "-"},
        )
        _invocation(ctx)
        prompt = (out / "prompt.md").read_text(encoding="utf-8")
        assert str(tmp_path) not in prompt
        assert "edit /workspace/calc/ops.py, log to /orchestra/out/x.txt" in prompt

"""Unit-test helpers: the context of one implement step by a coder, in a tmp folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestra.config.models import WorkerProfile
from orchestra.engine.step import StepContext

StepFactory = Callable[..., StepContext]


@pytest.fixture
def implement_step(tmp_path: Path) -> StepFactory:
    """Builds an implement step of ``profile`` with workspace tmp/ws and output tmp/out."""

    def make(profile: WorkerProfile, **values: Any) -> StepContext:
        workspace = tmp_path / "ws"
        workspace.mkdir(exist_ok=True)
        return StepContext(
            project_id="p",
            run_id="r",
            task_id="task-01",
            step_id="implement",
            title="Implement",
            worker_id="coder",
            profile=profile,
            prompt_name="implement",
            workspace=workspace,
            output_dir=tmp_path / "out",
            timeout=30,
            model=None,
            values={"task": "t", "carry": "c", **values},
        )

    return make

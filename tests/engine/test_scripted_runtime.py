"""orchestra.testing.ScriptedRuntime drives the real step code: prompt, files, handoff, record."""

from __future__ import annotations

import pytest

from orchestra.config.models import WorkerProfile
from orchestra.engine.step import run_step
from orchestra.errors import AgentNotInstalledError
from orchestra.testing import Reply, ScriptedRuntime, StepFactory, capture_logs

CODER = WorkerProfile(
    role="coder", agent="command", command=["agent", "{prompt_file}"], runtime="process"
)


class TestScriptedRuntime:
    def test_handoff_written_by_the_reply_becomes_the_record(
        self, implement_step: StepFactory
    ) -> None:
        """The reply's handoff.md and workspace file land where an agent's would, and are read back."""
        reply = Reply(
            stdout="working\n",
            workspace_files={"calc.py": "x = 1\n"},
            output_files={"handoff.md": "## Summary\nadded x\n\n## Next\nreview\n"},
        )
        runtime = ScriptedRuntime([reply])
        ctx = implement_step(CODER)
        with capture_logs() as logs:
            record = run_step(ctx, runtime)
        assert record.ok
        assert record.handoff.summary == "added x"
        assert (ctx.workspace / "calc.py").read_text() == "x = 1\n"
        assert runtime.requests[0].argv[0] == "agent"
        assert any("working" in entry["message"] for entry in logs)

    def test_a_failing_reply_fails_the_step(self, implement_step: StepFactory) -> None:
        """Exit code 3 makes a failed record with the exit code in its message."""
        record = run_step(implement_step(CODER), ScriptedRuntime([Reply(exit_code=3)]))
        assert record.status == "failed"
        assert "3" in record.message

    def test_preflight_refuses_missing_programs(self) -> None:
        """A program listed as missing is refused like a runtime without that agent."""
        with pytest.raises(AgentNotInstalledError, match="agent"):
            ScriptedRuntime([], missing=["agent"]).preflight("agent")

"""What one step leaves outside its content never reaches the next (issue 18, item 2).

The coder plants settings for every agent CLI (a Claude Code hook and MCP server, an OpenCode
plugin, a Codex notify command, an aider lint command, a `.env` that redirects the model API)
and, where it can reach it, the reviewer's `handoff.md`. The reviewer (the hostile agent
again) reports what it finds: only the coder's real work. None of it is in the result either.
"""

from __future__ import annotations

import pytest
from hostile_agent import CARRYOVER_NAMES
from hostile_support import BRANCH, Scene, git

from orchestra.agents import build_invocation

pytestmark = pytest.mark.slow


@pytest.fixture
def runtime(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "docker":
        request.getfixturevalue("docker_ready")
    return name


@pytest.mark.parametrize("runtime", ["docker", "process"], indirect=True)
def test_cli_settings_do_not_reach_the_next_step(scene: Scene, runtime: str) -> None:
    attempt = scene.run(runtime, "plant-cli-config", str(scene.marker), review="inspect-carryover")
    attempt.assert_contained(result_expected=True)
    probes = attempt.probes()
    assert probes["exists-feature.txt"] == "True", "the coder's work must reach the reviewer"
    left = [name for name in CARRYOVER_NAMES if probes[f"exists-{name}"] != "False"]
    assert left == [], f"the reviewer's step found the coder's {left}"
    assert probes["handoff-before"] == "False", "the reviewer's handoff was there before it ran"
    if runtime == "process":  # it could write the folder; the host cleared it before the step
        assert probes["forge-handoff"] == "ok"
        assert probes["plant-output-log"] == "ok"  # the host's victim.txt: checked unchanged
    assert attempt.outcome.steps[-1].handoff.summary.startswith("reviewed")
    files = set(git(scene.project, "ls-tree", "-r", "--name-only", BRANCH).splitlines())
    assert files == {"a.txt", "README.md", "NOTES.md", "feature.txt"}
    assert "agent-CLI settings left out of the result" in attempt.outcome.integration


def test_claude_reads_no_project_settings() -> None:
    """claude loads settings from its per-run config folder only, and no project MCP servers
    (checked against claude 2.1.327: a project SessionStart hook runs without these flags)."""
    inv = build_invocation(
        "claude", model=None, prompt_file="/o/p.md", workspace="/w", output_dir="/o", state_dir="/s"
    )
    flags = inv.argv
    assert flags[flags.index("--setting-sources") + 1] == "user"
    assert "--strict-mcp-config" in flags

"""A result may not rewrite the user's Orchestra settings (issue 18, item 4).

`git merge` overwrites ignored files without a word: a result with `!orchestra.local.yaml`
and `!.orchestra/` in its `.gitignore`, plus those files, would replace the user's local
settings (`runtime: process` for every worker) and plant task files. Such results are refused
with the reason, unless the task's front matter says `may_touch_orchestra_config: true`.
"""

from __future__ import annotations

import pytest
from hostile_support import BRANCH, TASK_TEXT, Scene, git

from orchestra.report.markdown import task_markdown

pytestmark = pytest.mark.slow


@pytest.fixture
def runtime(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "docker":
        request.getfixturevalue("docker_ready")
    return name


@pytest.mark.parametrize("runtime", ["docker", "process"], indirect=True)
@pytest.mark.parametrize(
    ("variant", "named"),
    [
        ("local", "orchestra.local.yaml"),
        ("yaml", "orchestra.yaml"),
        ("rule-only", "!*.yaml"),
    ],
)
def test_result_touching_orchestra_settings_is_refused(
    scene: Scene, runtime: str, variant: str, named: str
) -> None:
    attempt = scene.run(runtime, "orchestra-config", variant, config={"tasks": {"max_attempts": 1}})
    attempt.assert_contained(result_expected=False)
    outcome = attempt.outcome
    assert outcome.status == "failed"
    assert outcome.reason.startswith("result refused: it touches Orchestra's own settings")
    assert named in outcome.reason
    assert "may_touch_orchestra_config: true" in outcome.reason
    assert "result refused" in task_markdown(outcome)
    assert git(scene.project, "branch", "--list", "orchestra/*") == ""
    assert not (scene.project / "orchestra.local.yaml").exists()


def test_a_task_may_allow_it(scene: Scene) -> None:
    """With the key in its front matter the same result is taken, files and all."""
    text = f"---\nmay_touch_orchestra_config: true\n---\n{TASK_TEXT}"
    attempt = scene.run("process", "orchestra-config", "local", task_text=text)
    attempt.assert_contained(result_expected=True)
    files = git(scene.project, "ls-tree", "-r", "--name-only", BRANCH).splitlines()
    assert "orchestra.local.yaml" in files
    assert ".orchestra/queue/task-99.md" in files


def test_a_planner_may_not_allow_it(scene: Scene) -> None:
    """A planner's task file carrying the key is quarantined, not queued."""
    planned = scene.plan("process", "plan-allow-key")
    planned.assert_contained()
    assert planned.result.accepted == []
    [(name, reason)] = planned.result.rejected
    assert name == "task-01.md"
    assert "only a user may allow that" in reason

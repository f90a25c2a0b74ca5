"""Paths the host touches after a step: never followed, never opened when they are not what
the host expects (issue 18, items 1 and 3).

- A planner that replaces its ``staging`` folder by a link into the user's tree made the host
  move the user's ``README.md`` (and every other ``*.md``) into ``.orchestra/rejected/``.
- A step that turns ``.state`` (its output folder) or the work tree's ``.git`` into a FIFO
  made the host block for good in ``shutil.rmtree``'s open of its top path.
"""

from __future__ import annotations

import pytest
from hostile_support import BRANCH, Scene, git

pytestmark = pytest.mark.slow

RUNTIMES = ["docker", "process"]


@pytest.fixture
def runtime(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "docker":
        request.getfixturevalue("docker_ready")
    return name


@pytest.mark.parametrize("runtime", RUNTIMES, indirect=True)
def test_staging_link_into_the_users_tree(scene: Scene, runtime: str) -> None:
    """`staging` → the project root: nothing there is read, moved or copied; the user's
    README.md (with its unsaved edit) and NOTES.md stay where they are."""
    # From .orchestra/runs/<run>/planner/, four levels up is the user's working tree.
    planned = scene.plan(runtime, "plan-staging-link", "../../../..")
    planned.assert_contained()
    assert planned.result.accepted == []
    assert [name for name, _ in planned.result.rejected] == ["staging"]
    assert "link" in planned.result.rejected[0][1]
    readme = (scene.project / "README.md").read_text(encoding="utf-8")
    assert readme == "# The user's project\nunsaved edit\n"
    assert (scene.project / "NOTES.md").is_file()
    assert not list(scene.project.glob(".orchestra/rejected/*"))
    assert not list(scene.project.glob(".orchestra/queue/*"))


@pytest.mark.parametrize("runtime", RUNTIMES, indirect=True)
def test_staging_fifo(scene: Scene, runtime: str) -> None:
    """`staging` replaced by a FIFO: the host neither hangs nor reads it."""
    planned = scene.plan(runtime, "plan-staging-fifo")
    planned.assert_contained()
    assert planned.result.accepted == []
    assert [name for name, _ in planned.result.rejected] == ["staging"]
    assert "not a folder" in planned.result.rejected[0][1]


@pytest.mark.parametrize("runtime", RUNTIMES, indirect=True)
def test_staged_links_and_fifos_are_skipped_bad_files_copied(scene: Scene, runtime: str) -> None:
    """In a real `staging`: a link to the user's README and a FIFO are skipped; a bad file is
    quarantined as a copy (the staged file stays as the run's record); the good one is queued."""
    planned = scene.plan(runtime, "plan-staged-files", "../../../../README.md")
    planned.assert_contained()
    queued = [p.name for p in planned.result.accepted]
    assert queued == ["task-01.md"]
    assert "Add more." in (scene.project / ".orchestra" / "queue" / "task-01.md").read_text()
    assert [name for name, _ in planned.result.rejected] == ["notes.md"]
    staging = scene.project / ".orchestra" / "runs" / planned.run_id / "planner" / "staging"
    assert (staging / "notes.md").is_file(), "quarantine moved the agent's file"
    assert (scene.project / ".orchestra" / "rejected" / "notes.md").read_text() == (
        "no front matter, no goal\n"
    )
    assert (scene.project / ".orchestra" / "rejected" / "notes.reason.txt").is_file()


@pytest.mark.parametrize("runtime", RUNTIMES, indirect=True)
def test_fifo_state_folder(scene: Scene, runtime: str) -> None:
    """`.state` replaced by a FIFO: deleted after the step without being opened."""
    attempt = scene.run(runtime, "fifo-state")
    attempt.assert_contained(result_expected=True)
    assert not list(scene.project.glob(".orchestra/runs/*/*/*/.state"))


@pytest.mark.parametrize("runtime", RUNTIMES, indirect=True)
def test_fifo_agent_git(scene: Scene, runtime: str) -> None:
    """The work tree's `.git` replaced by a FIFO: the next step (verify) rewrites it without
    opening it, and the task ends with its result."""
    attempt = scene.run(runtime, "fifo-git", config={"git": {"verify": "test -f feature.txt"}})
    attempt.assert_contained(result_expected=True)
    assert [s.step for s in attempt.outcome.steps] == ["implement", "verify"]
    files = git(scene.project, "ls-tree", "-r", "--name-only", BRANCH).splitlines()
    assert ".git" not in files

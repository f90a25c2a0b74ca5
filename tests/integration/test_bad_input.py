"""Bad input to ``python -m flows.run`` stops before Prefect starts: exit code 2, one line, nothing moved.

Each test calls ``flows.run.main`` in process on the demo project with one task queued, and checks
the return code, the line printed, and that the queue folder holds exactly what it held before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flows.run import main

TaskText = Callable[[str], str]
#: Settings flows.run fills in with setdefault; restored after each test.
PREFECT_ENV = (
    "PREFECT_HOME",
    "PREFECT_SERVER_ANALYTICS_ENABLED",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
    "PREFECT_CLI_PROMPT",
)


@pytest.fixture(autouse=True)
def _prefect_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """flows.run sets Prefect's environment for its process; undo that after each test."""
    for name in PREFECT_ENV:
        monkeypatch.setenv(name, "")  # remember the value before the test...
        monkeypatch.delenv(name)  # ...and start without it, as a user's shell would
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))


@pytest.fixture
def project(demo_project: Path, demo_task: TaskText) -> Path:
    """The demo project with task-01.md queued."""
    queue = demo_project / ".orchestra" / "queue"
    queue.mkdir(parents=True)
    (queue / "task-01.md").write_text(demo_task("multiply"), encoding="utf-8")
    return demo_project


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def queue_unchanged(project: Path) -> Iterator[None]:
    """Fails the test when the queue folder's contents changed."""
    queue = project / ".orchestra" / "queue"
    before = snapshot(queue)
    yield
    assert snapshot(queue) == before


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Exit code and stdout of ``python -m flows.run argv``."""
    code = main(list(argv))
    return code, capsys.readouterr().out


def overlay(tmp_path: Path, text: str) -> Path:
    """A --config overlay file holding ``text``."""
    path = tmp_path / "overlay.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def only_line(out: str) -> str:
    """The single line printed (fails when there are more)."""
    lines = out.splitlines()
    assert len(lines) == 1, out
    return lines[0]


@pytest.mark.usefixtures("queue_unchanged")
class TestBadInput:
    """Exit code 2 and one line saying what is wrong, before anything is claimed."""

    def test_missing_config_file(
        self, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A --config file that does not exist is named."""
        missing = tmp_path / "nope.yaml"
        code, out = run(capsys, "--project", str(project), "--config", str(missing))
        assert code == 2
        assert only_line(out) == (
            f"error: config file '{missing}' does not exist; pass an existing file to --config"
        )

    def test_typo_key(
        self, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An unknown key is reported with the file it is in and its dotted path."""
        path = overlay(tmp_path, "workflows:\n  infinite_orchestra:\n    max_taks_per_cycle: 2\n")
        code, out = run(capsys, "--project", str(project), "--config", str(path))
        assert code == 2
        line = only_line(out)
        assert str(path) in line
        assert "'workflows.infinite_orchestra.max_taks_per_cycle'" in line

    def test_unknown_worker(
        self, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A workflow step naming a worker that is not defined is reported with the known ones."""
        path = overlay(
            tmp_path,
            "workflows:\n  roocode_boomerang:\n    steps:\n      - {id: plan, worker: wizard}\n",
        )
        code, out = run(capsys, "--project", str(project), "--config", str(path))
        assert code == 2
        line = only_line(out)
        assert "workflows.roocode_boomerang.steps[0].worker" in line
        assert "'wizard'" in line
        assert "'coder'" in line

    def test_misspelt_prompt_name(
        self, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A step whose prompt does not exist stops the run before any claim, naming it."""
        path = overlay(
            tmp_path,
            "workflows:\n  roocode_boomerang:\n    steps:\n"
            "      - {id: implement, worker: coder, prompt: implemnt}\n",
        )
        code, out = run(capsys, "--project", str(project), "--config", str(path))
        assert code == 2
        line = only_line(out)
        assert "no prompt named 'implemnt'" in line
        assert "implement" in line

    def test_agent_not_installed(
        self, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A worker whose agent executable is not on PATH stops the run, naming it."""
        path = overlay(
            tmp_path,
            "workers:\n  coder:\n    role: coder\n    agent: command\n    runtime: process\n"
            '    command: ["definitely-not-installed-agent"]\n',
        )
        code, out = run(capsys, "--project", str(project), "--config", str(path))
        assert code == 2
        line = only_line(out)
        assert "'definitely-not-installed-agent'" in line
        assert "not found on PATH" in line

    def test_not_a_git_repository(
        self, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A project folder that is not a git repository is refused."""
        plain = tmp_path / "plain"
        (plain / ".orchestra" / "queue").mkdir(parents=True)
        code, out = run(capsys, "--project", str(plain))
        assert code == 2
        line = only_line(out)
        assert f"'{plain}'" in line
        assert "is not a git repository" in line
        assert list((plain / ".orchestra" / "queue").iterdir()) == []

    def test_queue_folder_is_a_file(
        self, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A queue_dir that cannot be read as a folder is refused before Prefect starts."""
        not_a_folder = project / ".orchestra" / "queue-file"
        not_a_folder.write_text("not a folder\n", encoding="utf-8")
        path = overlay(
            tmp_path, f"workflows:\n  infinite_orchestra:\n    queue_dir: {not_a_folder}\n"
        )
        code, out = run(capsys, "--project", str(project), "--config", str(path))
        assert code == 2
        line = only_line(out)
        assert "cannot read the queue folder" in line
        assert f"'{not_a_folder}'" in line
        assert not_a_folder.read_text(encoding="utf-8") == "not a folder\n"

    def test_dry_run_changes_nothing(
        self, project: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--dry-run lists the task it would run and the workflow, and changes no file."""
        before = snapshot(project)
        code, out = run(capsys, "--project", str(project), "--dry-run")
        assert code == 0
        assert "would run task-01.md" in out
        assert "plan (architect) → implement (coder) → review (reviewer) → fix (fixer)" in out
        assert snapshot(project) == before
        assert not (project / ".orchestra" / "running").exists()

    def test_missing_project_folder(
        self,
        project: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A --project folder that does not exist is reported as missing and is not created."""
        monkeypatch.delenv("PREFECT_HOME")
        missing = tmp_path / "no-such-project"
        code, out = run(capsys, "--project", str(missing))
        assert code == 2
        assert "does not exist" in only_line(out)
        assert not missing.exists()

    def test_message_printed_verbatim(
        self, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The error names a path with square brackets exactly as it is."""
        missing = tmp_path / "[draft]" / "nope.yaml"
        code, out = run(capsys, "--project", str(project), "--config", str(missing))
        assert code == 2
        assert f"'{missing}'" in only_line(out)

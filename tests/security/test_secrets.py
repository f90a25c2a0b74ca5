"""Secrets stay in: a secret the agent was given and prints everywhere is in no file Orchestra
writes (run folder, report, outcome, failed task's .error.md, JSONL log); the agent's state
folder is gone; run folders are 0700."""

from __future__ import annotations

import stat
from pathlib import Path

from hostile_support import Scene

from orchestra.engine.settle import finish, write_outcome
from orchestra.project import open_project
from orchestra.queue.claims import Claimed
from orchestra.report.log import setup_logging
from orchestra.report.markdown import task_markdown, write_task_report

GIVEN = "not-the-host-secret"  # the profile env value the harness gives the agent


def _claim(scene: Scene) -> Claimed:
    proj = open_project(scene.project)
    proj.layout.queue.mkdir(parents=True, exist_ok=True)
    task = proj.layout.queue / "task-01.md"
    task.write_text((scene.root / "task-01.md").read_text(encoding="utf-8"), encoding="utf-8")
    claimed = proj.queue.claim(task, run_id="r")
    assert claimed is not None
    return claimed


def test_a_planted_secret_is_in_no_file_orchestra_wrote(scene: Scene) -> None:
    """grep every file under .orchestra after a failed task whose agent leaked its secret."""
    log = setup_logging(
        scene.project / ".orchestra" / "logs" / "orchestra.jsonl", console_level=None
    )
    attempt = scene.run("process", "leak-secret", config={"tasks": {"max_attempts": 1}})
    outcome = attempt.outcome
    assert outcome.status == "failed"
    assert "auth failed for ***" in outcome.reason
    proj = open_project(scene.project)
    claimed = _claim(scene)
    report = write_task_report(outcome)
    where = finish(proj.queue, claimed, outcome, task_markdown(outcome))
    write_outcome(outcome, report=report, moved_to=where)
    assert where.parent == proj.layout.failed
    assert list(proj.layout.failed.glob("*.error.md"))
    assert log.exists()
    written = [p for p in (scene.project / ".orchestra").rglob("*") if p.is_file()]
    assert len(written) >= 6  # prompt, result.json, report.md, outcome.json, task, .error.md, log
    leaks = [str(p) for p in written if GIVEN.encode() in p.read_bytes()]
    assert leaks == []
    assert not list((scene.project / ".orchestra" / "runs").rglob(".state"))


def test_run_folders_are_private(scene: Scene) -> None:
    """The run folder and every step folder in it are created 0700."""
    attempt = scene.run("process", "head", str(scene.marker))
    run_root = scene.project / ".orchestra" / "runs" / attempt.run_id
    folders = [run_root, *[p for p in run_root.rglob("*") if p.is_dir()]]
    assert len(folders) >= 3
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_reports_name_the_secret_as_redacted(tmp_path: Path) -> None:
    """Redaction replaces the value; the text around it stays readable."""
    from orchestra.secrets import redact, register_secrets

    register_secrets([GIVEN])
    assert redact(f"token={GIVEN}") == "token=***"

"""The `orchestra` command: init, schema, queue, stop/resume."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from typer.testing import CliRunner

from orchestra.cli.app import app, template_text
from orchestra.config.loader import load_config
from orchestra.config.models import OrchestraConfig
from orchestra.config.schema import json_schema, schema_text

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "README.md").write_text("hello\n")
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(path),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "init",
        ],
        check=True,
    )
    return path


class TestSchema:
    def test_checked_in_schema_is_in_sync(self) -> None:
        """schema/orchestra.schema.json equals what the models generate (run `make schema`)."""
        on_disk = (ROOT / "schema" / "orchestra.schema.json").read_text(encoding="utf-8")
        assert on_disk == schema_text(), "schema out of date: run `make schema`"

    def test_schema_command_prints_valid_json(self) -> None:
        """`orchestra schema` prints the JSON Schema with every top-level section."""
        result = runner.invoke(app, ["schema"])
        assert result.exit_code == 0
        data = json.loads(result.stdout)
        assert set(data["properties"]) == set(json_schema()["properties"])
        assert {"tasks", "ui", "workers", "workflows", "limits", "memory", "logging", "git"} <= set(
            data["properties"]
        )

    def test_every_field_is_documented(self) -> None:
        """Every config field has a description in the schema (editors show it)."""
        schema = json_schema()
        undocumented = [
            f"{name}.{field}"
            for name, definition in schema.get("$defs", {}).items()
            for field, spec in definition.get("properties", {}).items()
            if "description" not in spec
        ]
        assert undocumented == []


class TestInit:
    def test_init_writes_conservative_config_and_excludes_state(self, tmp_path: Path) -> None:
        """init writes orchestra.yaml, excludes .orchestra/ via .git/info/exclude, touches nothing tracked."""
        repo = _git_repo(tmp_path / "repo")
        result = runner.invoke(app, ["init", "--project", str(repo)])
        assert result.exit_code == 0, result.stdout
        config = yaml.safe_load((repo / "orchestra.yaml").read_text())
        parsed = OrchestraConfig.model_validate(config)
        assert not parsed.workflows.triggers.infinite_orchestra.enabled
        assert not parsed.workflows.triggers.self_improve_on_idle.enabled
        assert ".orchestra/" in (repo / ".git" / "info" / "exclude").read_text().splitlines()
        status = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert status.strip() == "?? orchestra.yaml"

    def test_init_says_what_to_commit(self, tmp_path: Path) -> None:
        """init prints the command that commits orchestra.yaml and says .orchestra/ and
        orchestra.local.yaml stay uncommitted; committing it as printed leaves the tree clean."""
        repo = _git_repo(tmp_path / "repo")
        result = runner.invoke(app, ["init", "--project", str(repo)])
        assert result.exit_code == 0, result.stdout
        out = " ".join(result.stdout.split())
        command = f"git -C {repo} add orchestra.yaml"
        assert command in out, out
        assert "orchestra.local.yaml" in out
        assert "not human activity" in out or "idle gate" in out, out
        subprocess.run(command.split(), check=True)
        status = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert status.strip() == "A  orchestra.yaml"

    def test_init_twice_keeps_file_and_exclude_once(self, tmp_path: Path) -> None:
        """A second init neither overwrites orchestra.yaml nor repeats the exclude line."""
        repo = _git_repo(tmp_path / "repo")
        runner.invoke(app, ["init", "--project", str(repo)])
        (repo / "orchestra.yaml").write_text("ui: {debug: false}\n")
        runner.invoke(app, ["init", "--project", str(repo)])
        assert (repo / "orchestra.yaml").read_text() == "ui: {debug: false}\n"
        lines = (repo / ".git" / "info" / "exclude").read_text().splitlines()
        assert lines.count(".orchestra/") == 1

    def test_init_refuses_non_git_folder(self, tmp_path: Path) -> None:
        """init in a folder that is not a git repository fails with a message naming it."""
        result = runner.invoke(app, ["init", "--project", str(tmp_path)])
        assert result.exit_code == 2
        assert "not a git repository" in result.stdout


class TestCheckedInConfig:
    def test_repository_config_is_the_conservative_template(self) -> None:
        """The checked-in orchestra.yaml is the template: triggers off, debug off, valid."""
        assert (ROOT / "orchestra.yaml").read_text(encoding="utf-8") == template_text()
        config = load_config(ROOT, environ={}, user_file=ROOT / "no-such-user-file.yaml").config
        assert not config.ui.debug
        assert not config.workflows.triggers.infinite_orchestra.enabled
        assert not config.workflows.triggers.self_improve_on_idle.enabled
        assert all(p.model is None for p in config.workers.values())

    def test_24x7_overlay_switches_the_trigger_on(self) -> None:
        """examples/24x7.yaml is a valid overlay that enables the cycle's trigger."""
        config = load_config(
            ROOT,
            overlays=[ROOT / "examples" / "24x7.yaml"],
            environ={},
            user_file=ROOT / "none.yaml",
        ).config
        assert config.workflows.triggers.infinite_orchestra.enabled


class TestQueueAndStop:
    def test_queue_lists_each_state(self, tmp_path: Path) -> None:
        """`orchestra queue` shows a count for queue, running, done, failed and rejected."""
        repo = _git_repo(tmp_path / "repo")
        queue = repo / ".orchestra" / "queue"
        queue.mkdir(parents=True)
        (queue / "task-1.md").write_text("# Goal\nx\n# Acceptance criteria\ny\n")
        result = runner.invoke(app, ["queue", "--project", str(repo)])
        assert result.exit_code == 0, result.stdout
        for state in ("queue", "running", "done", "failed", "rejected"):
            assert state in result.stdout
        assert "task-1.md" in result.stdout

    def test_stop_and_resume_toggle_the_kill_switch(self, tmp_path: Path) -> None:
        """stop creates .orchestra/STOP; resume removes it."""
        repo = _git_repo(tmp_path / "repo")
        assert runner.invoke(app, ["stop", "--project", str(repo)]).exit_code == 0
        assert (repo / ".orchestra" / "STOP").exists()
        assert runner.invoke(app, ["resume", "--project", str(repo)]).exit_code == 0
        assert not (repo / ".orchestra" / "STOP").exists()


class TestDoctorTrust:
    def test_process_workers_are_marked_trusted_only(self, demo_project: Path) -> None:
        """`orchestra doctor` says a process-runtime worker is no sandbox (trusted agents only)."""
        from io import StringIO

        from rich.console import Console

        from orchestra.cli.doctor import run_checks

        out = StringIO()
        run_checks(demo_project, "all", Console(file=out, width=400))
        text = " ".join(out.getvalue().split())
        assert "NOT a sandbox" in text
        assert "Trusted agents only" in text

"""Structured logging: the JSONL contract, Prefect forwarding outside a run, secret redaction."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from loguru import logger

from orchestra.config.models import WorkerProfile
from orchestra.engine.step import run_step
from orchestra.project import resolve_log_file
from orchestra.report.log import CONTEXT_FIELDS, LOG_FIELDS, setup_logging
from orchestra.runtime.process import ProcessRuntime
from orchestra.secrets import register_secrets
from orchestra.testing import StepFactory

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _lines(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class TestJsonl:
    def test_every_line_has_exactly_the_contract_fields(self, tmp_path: Path) -> None:
        """Lines carry timestamp/level/message/source, plus only the known context fields."""
        log = setup_logging(tmp_path / "logs" / "o.jsonl", level="debug", console_level=None)
        logger.debug("plain")
        logger.bind(task_id="task-03", step="implement", worker="coder").warning("bound")
        logger.error("boom")
        entries = _lines(log)
        assert [e["message"] for e in entries] == ["plain", "bound", "boom"]
        assert [e["level"] for e in entries] == ["debug", "warning", "error"]
        for entry in entries:
            assert set(LOG_FIELDS) <= set(entry)
            assert set(entry) <= set(LOG_FIELDS) | set(CONTEXT_FIELDS)
            assert RFC3339_UTC.match(entry["timestamp"])
            assert entry["source"] == __name__
        assert entries[1]["task_id"] == "task-03"
        assert entries[1]["step"] == "implement"
        assert entries[1]["worker"] == "coder"

    def test_log_file_env_overrides_the_configured_path(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """LOG_FILE wins over logging.file; relative paths live under the project."""

        monkeypatch.delenv("LOG_FILE", raising=False)
        assert resolve_log_file(tmp_path, "x/o.jsonl") == tmp_path / "x" / "o.jsonl"
        monkeypatch.setenv("LOG_FILE", str(tmp_path / "elsewhere.jsonl"))
        assert resolve_log_file(tmp_path, "x/o.jsonl") == tmp_path / "elsewhere.jsonl"


class TestRedaction:
    def test_registered_secret_never_reaches_the_file(self, tmp_path: Path) -> None:
        """A registered secret value is replaced in every line written."""
        log = setup_logging(tmp_path / "o.jsonl", console_level=None)
        register_secrets(["sk-test-0123456789abcdef"])
        logger.info("calling with key sk-test-0123456789abcdef now")
        text = log.read_text(encoding="utf-8")
        assert "sk-test-0123456789abcdef" not in text
        assert "***" in text

    def test_passed_env_value_printed_by_an_agent_is_redacted(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, implement_step: StepFactory
    ) -> None:
        """An agent that prints a pass_env secret: not in the JSONL log, not in the step record."""

        secret = "very-secret-token-42424242"
        monkeypatch.setenv("OTEST_STEP_TOKEN", secret)
        log = setup_logging(tmp_path / "o.jsonl", console_level=None)
        script = "import os, sys; print('token is', os.environ['OTEST_STEP_TOKEN']); sys.exit(3)"
        profile = WorkerProfile(
            role="coder",
            agent="command",
            runtime="process",
            command=[sys.executable, "-c", script],
            pass_env=["OTEST_STEP_TOKEN"],
        )
        ctx = implement_step(profile)
        record = run_step(ctx, ProcessRuntime(kill_grace=0.5))
        assert record.status == "failed"
        assert secret not in log.read_text(encoding="utf-8")
        assert "token is ***" in log.read_text(encoding="utf-8")
        assert secret not in record.output_tail
        assert secret not in (tmp_path / "out" / "result.json").read_text(encoding="utf-8")

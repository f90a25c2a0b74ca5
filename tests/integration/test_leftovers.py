"""Leftovers of dead runs are swept; a memory backend that is down does not stop a cycle."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchestra.project import open_project
from orchestra.runtime import LABEL_OWNER
from orchestra.upkeep.containers import sweep_orphans


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _docker_profile_overlay(project: Path, image: str) -> None:
    workers = {
        w: {"runtime": "docker", "docker": {"image": image}}
        for w in ("planner", "architect", "coder", "reviewer", "fixer")
    }
    (project / "orchestra.local.yaml").write_text(
        json.dumps({"workers": workers}), encoding="utf-8"
    )


@pytest.mark.docker
class TestContainerSweep:
    def test_containers_of_dead_owners_are_removed_live_ones_kept(
        self, demo_project: Path, docker_client: Any, docker_image: str
    ) -> None:
        """A container whose owner process died is swept; one whose owner lives stays."""
        _docker_profile_overlay(demo_project, docker_image)
        project = open_project(demo_project)
        host = socket.gethostname()
        created = []
        for owner, run in (
            (f"{host}:{_dead_pid()}", "dead-run"),
            (f"{host}:{os.getpid()}", "live-run"),
        ):
            container = docker_client.containers.create(
                docker_image,
                ["sleep", "300"],
                labels={
                    "orchestra.project": project.project_id,
                    "orchestra.managed": "true",
                    "orchestra.run": run,
                    LABEL_OWNER: owner,
                },
            )
            container.start()
            created.append(container.id)
        try:
            removed = sweep_orphans(project)
            assert removed == [created[0]]
            left = {
                c.id
                for c in docker_client.containers.list(
                    all=True, filters={"label": f"orchestra.project={project.project_id}"}
                )
            }
            assert left == {created[1]}
            assert sweep_orphans(project, exclude_self=True) == [created[1]]
        finally:
            for cid in created:
                subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False)


@pytest.mark.prefect
class TestMemoryDown:
    def test_cycle_goes_on_with_one_warning_when_neo4j_is_down(
        self, demo_project: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Neo4j configured but unreachable: the cycle completes, warns once, says so in its summary."""
        from flows.cycle import infinite_orchestra

        monkeypatch.setenv("ORCHESTRA_MEMORY__BACKEND", "neo4j")
        monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
        monkeypatch.setenv("NEO4J_PASSWORD", "not-a-real-password-123")
        state = infinite_orchestra(project=str(demo_project), return_state=True)
        assert state.is_completed(), state.message
        assert "memory unavailable" in (state.message or "")
        cycles = list((demo_project / ".orchestra" / "runs").glob("*/cycle.json"))
        summary = json.loads(cycles[0].read_text(encoding="utf-8"))
        assert summary["memory"].startswith("unavailable: ")
        assert "bolt://127.0.0.1:1" in summary["memory"]
        log = (demo_project / ".orchestra" / "logs" / "orchestra.jsonl").read_text(encoding="utf-8")
        warnings = [
            line
            for line in log.splitlines()
            if "memory unavailable" in line and json.loads(line)["level"] == "warning"
        ]
        assert len(warnings) == 1
        assert "not-a-real-password-123" not in log

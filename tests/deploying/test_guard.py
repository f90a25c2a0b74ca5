"""deployments/guard.py: which prefect.yaml a deployment on the server came from, and the
refusal to replace it from the other file (the real deploy: tests/ops24/test_deployments.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from deployments import guard

STACK_PULL = [{"prefect.deployments.steps.set_working_directory": {"directory": "/project"}}]
LOCAL_PULL = [{"prefect.deployments.steps.set_working_directory": {"directory": "/home/me/o"}}]
NAME = "infinite-orchestra/infinite-orchestra"


@dataclass
class Existing:
    pull_steps: list[dict[str, Any]] | None


class TestOrigin:
    def test_told_apart_by_the_working_directory(self) -> None:
        assert guard.origin_of(STACK_PULL) == ("stack", "/project")
        assert guard.origin_of(LOCAL_PULL) == ("local", "/home/me/o")
        assert guard.origin_of(None) is None  # made by a cycle or by deployments.serve
        assert (
            guard.origin_of([{"prefect.deployments.steps.git_clone": {"repository": "x"}}]) is None
        )


class TestConflict:
    def test_the_root_file_over_the_stacks(self) -> None:
        """The issue's case: prefect.yaml deployed onto the stack's server."""
        said = guard.conflict("infinite-orchestra", NAME, "local", Existing(STACK_PULL))
        assert (
            f"deployment {NAME!r} on this Prefect server was made from docker/prefect.yaml" in said
        )
        assert "'/project'" in said
        assert f"prefect deployment delete {NAME}" in said

    def test_the_stack_file_over_the_roots(self) -> None:
        said = guard.conflict("infinite-orchestra", NAME, "stack", Existing(LOCAL_PULL))
        assert "was made from prefect.yaml" in said
        assert "'/home/me/o'" in said

    def test_same_file_or_no_directory_replaces(self) -> None:
        assert guard.conflict("infinite-orchestra", NAME, "stack", Existing(STACK_PULL)) == ""
        assert guard.conflict("infinite-orchestra", NAME, "local", Existing(LOCAL_PULL)) == ""
        assert guard.conflict("infinite-orchestra", NAME, "local", Existing(None)) == ""


def test_both_files_run_the_guard_first() -> None:
    """Each prefect.yaml runs the guard, for its own origin, as its build step."""
    for origin, name in guard.FILES.items():
        data = yaml.safe_load((guard.REPO / name).read_text(encoding="utf-8"))
        assert data["build"] == [{"deployments.guard.refuse_replacing": {"origin": origin}}]
        assert guard.declared(guard.REPO / name) == [d["name"] for d in data["deployments"]]

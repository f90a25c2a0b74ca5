"""`orchestra doctor`'s versions of the agent CLIs the workers run, asked where their steps run:
each CLI's ``--version`` as a short step of the worker's own runtime (natively for the process
runtime, in the worker image for Docker), once per CLI and place."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchestra.agents import executable
from orchestra.errors import OrchestraError
from orchestra.runtime import StepRequest
from orchestra.runtime.pool import RuntimePool

#: CLIs that answer ``--version`` (a ``command`` agent is the user's own program).
VERSIONED = ("claude", "codex", "aider", "opencode")
VERSION_TIMEOUT = 60.0


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def version_in(runtime: Any, program: str) -> str:
    """``program --version`` as a step of ``runtime``, or why it could not be asked."""
    with tempfile.TemporaryDirectory(prefix="orchestra-doctor-") as tmp:
        workspace, output = Path(tmp, "ws"), Path(tmp, "out")
        workspace.mkdir()
        output.mkdir()
        request = StepRequest(
            argv=[program, "--version"],
            workspace=workspace,
            output_dir=output,
            timeout=VERSION_TIMEOUT,
            env=runtime.view.base_env(os.environ),  # a step's own PATH (natively, the host's)
            read_only_workspace=True,
            name="doctor-version",
        )
        try:
            result = runtime.run(request)
        except OrchestraError as exc:
            return f"not runnable ({exc})"
    said = _first_line(result.stdout) or _first_line(result.stderr)
    return said or f"exit code {result.exit_code}"


def version_rows(profiles: Iterable[Any], runtimes: RuntimePool) -> list[tuple[str, str, str]]:
    """One ``(check, "ok", version)`` row per distinct CLI and place among ``profiles``."""
    rows: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for profile in profiles:
        if profile.agent not in VERSIONED:
            continue
        program = executable(profile.agent, profile.command)
        runtime = runtimes.get(profile, "doctor")
        where = runtime.view.where()
        if (program, where) in seen:
            continue
        seen.add((program, where))
        rows.append((f"{program} ({where})", "ok", version_in(runtime, program)))
    return rows

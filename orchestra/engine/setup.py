"""A task's set-up: the user's own command, run once in the task's clone before the first agent
step, with variables no agent step sees (registry tokens, `.env` values).

It runs like the verify gate (``sh -c``, in the runtime of the first writing step, or of
``setup.worker``), as its own step ``setup`` with the extra variables of ``setup.env`` and
``setup.pass_env``. Every step is a fresh container or process, so those variables are gone
before the first agent starts; their values are registered as secrets (redacted from every log,
record and report). What the set-up leaves untracked in the clone (a `.venv/`, a `.env`) stays for
the agents and is kept out of the result: the task's own exclude file (in its host git dir, which
no step can write) lists it. The command comes from the user's configuration only, never from a
task file: a planner writes task files, and it must not choose what runs with secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from orchestra.agents import allowed_env
from orchestra.config.models import WRITING_ROLES, StepConfig
from orchestra.secrets import register_secrets
from orchestra.workspace.clone import TaskWorkspace

if TYPE_CHECKING:
    from orchestra.engine.task import TaskRun


def setup_phase(
    tr: TaskRun, ws: TaskWorkspace, environ: Mapping[str, str] | None = None
) -> str | None:
    """Run the configured set-up, if any; return why the task must end, or None."""
    setup = tr.project.config.workflows.roocode_boomerang.setup
    if setup is None:
        return None
    steps = tr.project.config.workflows.roocode_boomerang.steps
    worker = setup.worker or next(
        (s.worker for s in steps if tr.project.worker(s.worker).role in WRITING_ROLES),
        steps[0].worker,
    )
    secrets = allowed_env(os.environ if environ is None else environ, list(setup.pass_env))
    secrets.update(setup.env)
    register_secrets(secrets.values())
    gate = StepConfig(id="setup", worker=worker, title="Set-up", timeout=setup.timeout)
    ctx = replace(tr.context(gate, ws, verify=setup.command), extra_env=secrets)
    record = tr.run(ctx, ws)
    if not record.ok:
        # The user's own command: retrying the task cannot help until the config is fixed.
        record.failure = "configuration"
        return f"set-up `{setup.command}` failed ({record.message}):\n{record.output_tail[-1500:]}"
    keep_out_of_result(ws, untracked(ws))
    return None


def untracked(ws: TaskWorkspace) -> list[str]:
    """Paths the work tree has that git does not track (folders as one entry, ending in /)."""
    out = ws.git("status", "--porcelain=v1", "-z", "--untracked-files=normal", "--ignored=no")
    entries = [e for e in out.split("\0") if e]
    return [e[3:] for e in entries if e.startswith("?? ")]


def keep_out_of_result(ws: TaskWorkspace, paths: list[str]) -> None:
    """Add ``paths`` (relative, anchored) to the task's own exclude file."""
    if not paths:
        return
    exclude = ws.git_dir / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a", encoding="utf-8") as fh:
        fh.write("# written by the task's set-up: kept out of the result\n")
        fh.write("".join(f"/{_escaped(p)}\n" for p in paths))


def _escaped(path: str) -> str:
    """A literal path as a gitignore pattern (glob characters and leading ! # escaped)."""
    for char in "\\*?[!#":
        path = path.replace(char, "\\" + char)
    return path

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
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from orchestra.agents import allowed_env
from orchestra.config.models import WRITING_ROLES, StepConfig
from orchestra.paths import remove_tree
from orchestra.secrets import register_secrets
from orchestra.workspace.carryover import is_cli_config
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
    paths = untracked(ws)
    tr.setup_paths = keep_out_of_result(ws, paths)
    stash_setup_settings(ws, paths)
    return None


def untracked(ws: TaskWorkspace) -> list[str]:
    """Paths the work tree has that git does not track (folders as one entry, ending in /)."""
    out = ws.git("status", "--porcelain=v1", "-z", "--untracked-files=normal", "--ignored=no")
    entries = [e for e in out.split("\0") if e]
    return [e[3:] for e in entries if e.startswith("?? ")]


def keep_out_of_result(ws: TaskWorkspace, paths: list[str]) -> list[str]:
    """Add ``paths`` (relative) to the task's own exclude file, as anchored patterns; return
    the patterns."""
    patterns = [f"/{_escaped(p)}" for p in paths]
    if not patterns:
        return []
    exclude = ws.git_dir / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a", encoding="utf-8") as fh:
        fh.write("# written by the task's set-up: kept out of the result\n")
        fh.write("".join(f"{p}\n" for p in patterns))
    return patterns


def _stash(ws: TaskWorkspace) -> Path:
    return ws.git_dir / "setup-settings"  # host-only: no step can write the host git dir


def stash_setup_settings(ws: TaskWorkspace, paths: list[str]) -> None:
    """Copy what the set-up wrote that an agent CLI reads as its settings (`.env`, ...) beside
    the host git dir, so each step gets it as the set-up left it, whatever a step did to it."""
    for rel in (p.rstrip("/") for p in paths if is_cli_config(p.rstrip("/"))):
        source, target = ws.path / rel, _stash(ws) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir() and not source.is_symlink():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target, follow_symlinks=False)


def restore_setup_settings(ws: TaskWorkspace) -> None:
    """Put the stashed set-up settings back into the work tree (between steps)."""
    stash = _stash(ws)
    if not stash.is_dir():
        return
    for entry in sorted(stash.rglob("*")):
        if entry.is_dir() and not entry.is_symlink():
            continue
        rel = entry.relative_to(stash)
        remove_tree(ws.path / rel)
        (ws.path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(entry, ws.path / rel, follow_symlinks=False)


def _escaped(path: str) -> str:
    """A literal path as a gitignore pattern (glob characters and leading ! # escaped)."""
    for char in "\\*?[!#":
        path = path.replace(char, "\\" + char)
    return path

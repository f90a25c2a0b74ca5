"""The planner's side of the queue: one planner step in a read-only clone, then staged files
are validated and written into the queue under fresh, never-reused task numbers."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from orchestra.engine.step import StepContext, StepRecord
from orchestra.engine.task import StepRunner
from orchestra.paths import open_agent_dir, private_dirs, read_agent_file
from orchestra.project import Project
from orchestra.queue.taskfile import split_front_matter, validate_task_text
from orchestra.runtime import view_of
from orchestra.workspace.agentgit import reset_agent_git
from orchestra.workspace.clone import PLANNER_TASK_ID, create_workspace, remove_workspace
from orchestra.workspace.git import current_branch, git
from orchestra.workspace.protected import ALLOW_KEY

_NUMBER = re.compile(r"^task-(\d+)")
#: The planner's folder for new task files, in its output folder.
STAGING = "staging"


@dataclass
class PlanResult:
    """What the planning step produced."""

    accepted: list[Path] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    record: StepRecord | None = None
    skipped: str = ""


def highest_task_number(project: Project) -> int:
    """The largest task number used anywhere in the queue's folders (0 when none)."""
    highest = 0
    layout = project.layout
    for folder in (layout.queue, layout.running, layout.done, layout.failed, layout.rejected):
        try:
            names = [entry.name for entry in folder.iterdir()]
        except FileNotFoundError:
            continue
        for name in names:
            if m := _NUMBER.match(name):
                highest = max(highest, int(m.group(1)))
    # Result branches count too: a reused number would collide with orchestra/task-NN.
    refs = git(project.root, "for-each-ref", "--format=%(refname:short)", "refs/heads/orchestra/")
    for ref in refs.splitlines():
        if m := _NUMBER.match(ref.removeprefix("orchestra/")):
            highest = max(highest, int(m.group(1)))
    return highest


def read_staged(out_dir: Path, folder: str = STAGING) -> tuple[list[tuple[str, str]], str]:
    """``(name, text)`` of each regular ``*.md`` in ``out_dir/folder``, in task-number order,
    and why none could be read ("" when the folder was read or is absent).

    The planner may have replaced ``staging`` (or anything in it) by a link into the user's
    tree, a FIFO or a file: the folder and each file are opened without following links or
    blocking, and only through the folder's own descriptor.
    """
    try:
        fd = open_agent_dir(out_dir, folder)
    except FileNotFoundError:
        return [], ""
    except OSError as exc:
        try:
            kind = "a link" if (out_dir / folder).is_symlink() else "not a folder"
        except OSError:
            kind = "not a folder"
        return [], f"{folder} is {kind} ({exc.strerror}); nothing in it was read"
    try:
        names = [e.name for e in os.scandir(fd) if e.name.endswith(".md")]
        staged = [(n, t) for n in names if (t := read_agent_file(n, dir_fd=fd)) is not None]
    finally:
        os.close(fd)
    staged.sort(key=lambda f: (int(m.group(1)) if (m := _NUMBER.match(f[0])) else 1 << 30, f[0]))
    return staged, ""


def accept_staged(project: Project, out_dir: Path, *, limit: int) -> PlanResult:
    """Validate the planner's files in ``out_dir/staging``; write the valid ones into the queue
    and a copy of the others into ``rejected/``. The staged entries are never moved, linked
    or followed: they stay as the run's record."""
    result = PlanResult()
    staged, problem = read_staged(out_dir)
    if problem:
        result.rejected.append((STAGING, problem))
        logger.warning("planner output refused: {}", problem)
    number = highest_task_number(project)
    project.layout.queue.mkdir(parents=True, exist_ok=True)
    max_chars = project.config.workflows.roocode_boomerang.max_task_chars
    for name, text in staged:
        reason = validate_task_text(text, max_chars=max_chars)
        if reason is None and ALLOW_KEY in split_front_matter(text)[0]:
            reason = f"{ALLOW_KEY!r} in a planner's task: only a user may allow that"
        if reason is None and len(result.accepted) >= limit:
            reason = f"over the queue bound: the planner may add {limit} task(s) now (max_queue)"
        if reason is not None:
            where = project.queue.quarantine_text(name, text, f"planner output {name}: {reason}")
            result.rejected.append((name, reason))
            logger.warning("planner file {} rejected: {} (a copy kept at {})", name, reason, where)
            continue
        number += 1
        dest = project.layout.queue / f"task-{number:02d}.md"
        _create(dest, text)
        result.accepted.append(dest)
        logger.info("planned {} from {}", dest.name, name)
    return result


def _create(dest: Path, text: str) -> None:
    """Write a new queue file; fails rather than overwrite one (numbers are never reused)."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def plan(
    project: Project, *, run_id: str, runner: StepRunner, run_dir: Path, memory: str
) -> PlanResult:
    """Run the planner once and move its valid task files into the queue."""
    wf = project.config.workflows.infinite_orchestra
    room = wf.max_queue - len(project.queue.pending())
    if room <= 0:
        return PlanResult(skipped=f"queue already holds {wf.max_queue} task(s) (max_queue)")
    profile = project.worker(wf.planner)
    out_dir = run_dir / "planner"
    base = project.config.git.base_branch or current_branch(project.root)
    ws = create_workspace(
        project.root,
        project.worktrees_dir / PLANNER_TASK_ID,
        project.gitdirs_dir / PLANNER_TASK_ID,
        PLANNER_TASK_ID,
        base,
    )
    try:
        view = view_of(profile.runtime)
        reset_agent_git(ws, view.objects(ws.objects_dir), ws.base_commit)
        _, out_seen = view.paths(ws.path, out_dir)
        ctx = StepContext(
            project_id=project.project_id,
            run_id=run_id,
            task_id=PLANNER_TASK_ID,
            step_id="plan-queue",
            title="Planner",
            worker_id=wf.planner,
            profile=profile,
            prompt_name=profile.prompt or "planner",
            workspace=ws.path,
            output_dir=out_dir,
            timeout=float(profile.timeout or project.config.tasks.default_timeout),
            model=profile.model,
            values={
                "goal": wf.goal,
                "staging_dir": f"{out_seen}/{STAGING}",
                "max_tasks": str(room),
                "memory": memory or "(nothing remembered yet)",
            },
            objects_dir=ws.objects_dir,
            log_head=project.config.logging.agent_head_lines,
            log_tail=project.config.logging.agent_tail_lines,
            log_every_line=project.config.ui.debug,
        )
        private_dirs(out_dir / STAGING)
        record = runner(ctx)
    finally:
        remove_workspace(ws.path, ws.git_dir)
    result = accept_staged(project, out_dir, limit=room)
    result.record = record
    return result

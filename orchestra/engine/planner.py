"""The planner's side of the queue: one planner step in a read-only clone, then staged files
are validated and moved into the queue under fresh, never-reused task numbers."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from orchestra.engine.step import StepContext, StepRecord
from orchestra.engine.task import StepRunner
from orchestra.paths import private_dirs, read_agent_file
from orchestra.project import Project
from orchestra.queue.taskfile import validate_task_text
from orchestra.runtime import view_of
from orchestra.workspace.agentgit import reset_agent_git
from orchestra.workspace.clone import PLANNER_TASK_ID, create_workspace, remove_workspace
from orchestra.workspace.git import current_branch, git

_NUMBER = re.compile(r"^task-(\d+)")


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


def accept_staged(project: Project, staging: Path, *, limit: int) -> PlanResult:
    """Validate the planner's files; move valid ones into the queue, quarantine the others."""
    result = PlanResult()
    if not staging.is_dir():
        return result
    staged = sorted(
        (p for p in staging.iterdir() if p.suffix == ".md" and p.is_file() and not p.is_symlink()),
        key=lambda p: (int(m.group(1)) if (m := _NUMBER.match(p.name)) else 1 << 30, p.name),
    )
    number = highest_task_number(project)
    project.layout.queue.mkdir(parents=True, exist_ok=True)
    for path in staged:
        text = read_agent_file(path)
        if text is None:
            continue  # replaced by a link or removed meanwhile: not a task file of the planner
        max_chars = project.config.workflows.roocode_boomerang.max_task_chars
        reason = validate_task_text(text, max_chars=max_chars)
        if reason is None and len(result.accepted) >= limit:
            reason = f"over the queue bound: the planner may add {limit} task(s) now (max_queue)"
        if reason is not None:
            where = project.queue.quarantine(path, f"planner output {path.name}: {reason}")
            result.rejected.append((path.name, reason))
            logger.warning("planner file {} rejected: {} (kept at {})", path.name, reason, where)
            continue
        number += 1
        dest = project.layout.queue / f"task-{number:02d}.md"
        os.link(path, dest)  # fails rather than overwrite; the staged copy stays as a record
        result.accepted.append(dest)
        logger.info("planned {} from {}", dest.name, path.name)
    return result


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
                "staging_dir": f"{out_seen}/staging",
                "max_tasks": str(room),
                "memory": memory or "(nothing remembered yet)",
            },
            objects_dir=ws.objects_dir,
            log_head=project.config.logging.agent_head_lines,
            log_tail=project.config.logging.agent_tail_lines,
            log_every_line=project.config.ui.debug,
        )
        private_dirs(out_dir / "staging")
        record = runner(ctx)
    finally:
        remove_workspace(ws.path, ws.git_dir)
    result = accept_staged(project, out_dir / "staging", limit=room)
    result.record = record
    return result

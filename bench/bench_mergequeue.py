"""What the merge queue costs per landed task: replay onto the moved base plus verify again,
against the verify command's own time.

A project of ~300 source files; ``tasks`` task workspaces are made from the same base commit
(as parallel tasks are) and each commits a change to a file of its own. They then land one
after another through :func:`orchestra.engine.mergequeue.land` (``git.integration: merge``,
a base that is not checked out): the first fast-forwards, every later one finds the base moved,
so it is replayed (``git merge-tree``), verified again and fast-forwarded. The verify command
(byte-compiling the tree: a small, real check) is also timed alone in the same work trees.

Reported: the median time of a landing that replayed, the median verify alone, their
difference (what the queue adds on top of the verify it has to run again) and the ratio.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from orchestra.engine.mergequeue import Checks, land
from orchestra.project import open_project
from orchestra.workspace.clone import TaskWorkspace, commit_all, create_workspace, remove_workspace

FILES = 300
VERIFY = ["python3", "-m", "compileall", "-q", "-f", "src"]


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def _project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    for n in range(FILES):
        body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(20))
        (root / "src" / f"mod_{n:03d}.py").write_text(body, encoding="utf-8")
    (root / "orchestra.yaml").write_text(
        "git:\n  base_branch: integration\n  integration: merge\n", encoding="utf-8"
    )
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=B", "-c", "user.email=b@example.com", "commit", "-qm", "start")
    _git(root, "branch", "integration")
    return root


def _verify(ws: TaskWorkspace) -> tuple[str | None, float]:
    began = time.perf_counter()
    proc = subprocess.run(VERIFY, cwd=ws.path, capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    return (None if proc.returncode == 0 else f"verify exit {proc.returncode}"), took


def run(tasks: int = 8) -> dict[str, Any]:
    """Land ``tasks`` results made from one base; times per landing and per verify."""
    base_dir = Path(tempfile.mkdtemp(prefix="orchestra-bench-mq-"))
    try:
        root = _project(base_dir / "project")
        project = open_project(root)
        spaces = []
        for n in range(tasks):
            task_id = f"task-{n + 1}"
            ws = create_workspace(
                root, base_dir / "wt" / task_id, base_dir / "gd" / task_id, task_id, "integration"
            )
            path = ws.path / "src" / f"mod_{n:03d}.py"
            path.write_text(path.read_text(encoding="utf-8") + f"# {task_id}\n", encoding="utf-8")
            commit = commit_all(ws, message=task_id, author_name="B", author_email="b@x")
            assert commit is not None
            spaces.append((ws, commit))
        verifies: list[float] = []
        alone: list[float] = []

        def verify(ws: TaskWorkspace) -> str | None:
            problem, took = _verify(ws)
            verifies.append(took)
            return problem

        def no_resolve(ws: TaskWorkspace, files: list[str]) -> str | None:
            return f"unexpected conflict in {files}"

        landings: list[dict[str, Any]] = []
        for ws, commit in spaces:
            alone.append(_verify(ws)[1])  # the verify the task ran before it queued
            began = time.perf_counter()
            landed = land(project, ws, commit, Checks(verify, no_resolve))
            took = time.perf_counter() - began
            landings.append({"s": took, "replayed": landed.replayed, "text": landed.text})
            remove_workspace(ws.path, ws.git_dir)
        not_merged = [x["text"] for x in landings if "fast-forwarded" not in x["text"]]
        if not_merged:
            msg = f"results that did not land: {not_merged}"
            raise RuntimeError(msg)
        replayed = [x["s"] for x in landings if x["replayed"]]
        first = [x["s"] for x in landings if not x["replayed"]]
        queue_s = statistics.median(replayed)
        verify_s = statistics.median(alone)
        return {
            "tasks": tasks,
            "files": FILES,
            "land_replayed_s": round(queue_s, 3),
            "land_first_s": round(statistics.median(first), 3) if first else 0.0,
            "verify_alone_s": round(verify_s, 3),
            "reverify_s": round(statistics.median(verifies), 3),
            "queue_added_s": round(queue_s - verify_s, 3),
            "ratio": round(queue_s / verify_s, 2),
        }
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


def report(result: dict[str, Any]) -> str:
    """One paragraph: what a replayed landing costs on top of its verify."""
    return (
        f"{result['tasks']} results made from one base, landed one after another on a project "
        f"of {result['files']} files; the first fast-forwards in {result['land_first_s']} s, "
        f"each later one is replayed, verified again and fast-forwarded in "
        f"{result['land_replayed_s']} s (median), of which the verify is {result['reverify_s']} s "
        f"(alone: {result['verify_alone_s']} s): the queue adds {result['queue_added_s']} s "
        "per landed task on top of the verify it runs again."
    )


if __name__ == "__main__":
    print(run())

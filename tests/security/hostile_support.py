"""The hostile-agent harness: a user's repository with work in progress, host files beside it,
one task run through the real engine with a real runtime, and the checks every attack must
pass (see test_hostile_agent.py)."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from orchestra.engine.planner import PlanResult, plan
from orchestra.engine.step import run_step
from orchestra.engine.task import TaskOutcome, run_task
from orchestra.project import open_project
from orchestra.queue.taskfile import parse_task
from orchestra.runtime import build_runtime

T = TypeVar("T")
AGENT = Path(__file__).with_name("hostile_agent.py")
IMAGE = "orchestra-base:bookworm"  # has python3 and git
TASK_ID = "task-01"
BRANCH = f"refs/heads/orchestra/{TASK_ID}"
SECRET = "hostile-suite-secret-5f0c2a"
TASK_TEXT = "# Goal\nAdd feature.txt.\n\n# Acceptance criteria\nfeature.txt exists.\n"


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def tree_bytes(root: Path, skip: set[str]) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under ``root`` (links as their target) with owner, mode and bytes."""
    found: dict[str, tuple[int, int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames + dirnames:
            path = Path(dirpath, name)
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                data = str(path.readlink()).encode()
            elif stat.S_ISREG(st.st_mode):
                data = path.read_bytes()
            else:
                data = b""
            found[str(path.relative_to(root))] = (st.st_uid, st.st_mode, data)
    return found


@dataclass
class Scene:
    """A user's repository with uncommitted work, and host files outside the task."""

    root: Path
    project: Path
    host: Path
    marker: Path

    def snapshot(self) -> dict[str, Any]:
        dot = self.project / ".git"
        return {
            "refs": git(self.project, "for-each-ref", "--format=%(refname) %(objectname)"),
            "files": tree_bytes(self.project, {".git", ".orchestra"}),
            "git": {n: (dot / n).read_bytes() for n in ("HEAD", "config", "index")},
            "git-meta": tree_bytes(dot, {"objects", "refs", "logs"})
            | {"objects/info": tree_bytes(dot / "objects" / "info", set())},
            "host": tree_bytes(self.host, set()),
            "status": git(self.project, "status", "--porcelain"),
        }

    def profile(
        self, runtime: str, attack: str, arg: str, role: str = "coder", **docker: Any
    ) -> dict[str, Any]:
        worker: dict[str, Any] = {
            "role": role,
            "agent": "command",
            "runtime": runtime,
            "timeout": 60,
            "env": {"SECRET_GIVEN": "not-the-host-secret"},
        }
        if runtime == "docker":
            cfg = {
                "image": IMAGE,
                "network": "none",
                "mem_limit": "256m",
                "pids_limit": 64,
                "volumes": [f"{AGENT.parent}:/orchestra/agent:ro"],
            }
            worker["docker"] = cfg | docker
            agent = "/orchestra/agent/hostile_agent.py"
            worker["command"] = ["python3", agent, attack, "{workspace}", "{output_dir}", arg]
        else:
            worker["command"] = [
                sys.executable,
                str(AGENT),
                attack,
                "{workspace}",
                "{output_dir}",
                arg,
            ]
        return worker

    def run(
        self,
        runtime: str,
        attack: str,
        arg: str = "",
        config: dict[str, Any] | None = None,
        task_text: str = TASK_TEXT,
        review: str | None = None,
        **docker: Any,
    ) -> Attempt:
        """Run one task whose step is the hostile agent (and a hostile reviewer after it when
        ``review`` names its attack); return what happened."""
        workers = {"coder": self.profile(runtime, attack, arg, **docker)}
        steps = [{"id": "implement", "worker": "coder"}]
        if review is not None:
            workers["reviewer"] = self.profile(runtime, review, arg, role="reviewer", **docker)
            steps.append({"id": "review", "worker": "reviewer"})
        config = dict(config or {})
        flows = dict(config.get("workflows", {}))
        flows["roocode_boomerang"] = {**flows.get("roocode_boomerang", {}), "steps": steps}
        config |= {
            "workers": workers,
            "workflows": flows,
        }
        (self.project / "orchestra.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        before = self.snapshot()
        proj = open_project(self.project)
        run_id = f"sec-{uuid.uuid4().hex[:8]}"
        profile = proj.worker("coder")
        runtime_obj = build_runtime(
            profile.runtime, project_id="orch10-sec", run_id=run_id, kill_grace=1.0
        )
        task_path = self.root / f"{TASK_ID}.md"
        task_path.write_text(task_text, encoding="utf-8")
        outcome = within(
            240,
            lambda: run_task(
                proj,
                parse_task(task_path),
                run_id=run_id,
                runner=lambda ctx: run_step(ctx, runtime_obj),
                run_dir=self.project / ".orchestra" / "runs" / run_id / TASK_ID,
            ),
            unblock=self.project / ".orchestra",
        )
        return Attempt(self, before, outcome, run_id)

    def plan(self, runtime: str, attack: str, arg: str = "") -> Planned:
        """Run the planner (the hostile agent) once through the real engine, within 120 s."""
        config = {
            "workers": {"planner": self.profile(runtime, attack, arg, role="planner")},
            "workflows": {"infinite_orchestra": {"planner": "planner", "max_queue": 4}},
        }
        (self.project / "orchestra.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        before = self.snapshot()
        proj = open_project(self.project)
        run_id = f"sec-{uuid.uuid4().hex[:8]}"
        runtime_obj = build_runtime(
            proj.worker("planner").runtime,
            project_id="orch10-sec",
            run_id=run_id,
            kill_grace=1.0,
        )
        run_dir = self.project / ".orchestra" / "runs" / run_id
        result = within(
            120,
            lambda: plan(
                proj,
                run_id=run_id,
                runner=lambda ctx: run_step(ctx, runtime_obj),
                run_dir=run_dir,
                memory="",
            ),
            unblock=self.project / ".orchestra",
        )
        return Planned(self, before, result, run_id)


@dataclass
class Attempt:
    scene: Scene
    before: dict[str, Any]
    outcome: TaskOutcome
    run_id: str

    @property
    def tail(self) -> str:
        return "\n".join(s.output_tail for s in self.outcome.steps)

    def probes(self) -> dict[str, str]:
        found = {}
        for line in self.tail.splitlines():
            if line.startswith("PROBE "):
                _, what, result = line.split(" ", 2)
                found[what] = result
        return found

    def assert_contained(self, *, result_expected: bool) -> None:
        """The checks every attack must pass."""
        scene, project = self.scene, self.scene.project
        assert not scene.marker.exists(), "a command the agent planted ran on the host"
        git(project, "fsck", "--strict", "--no-dangling")
        after = scene.snapshot()
        refs_before = set(self.before["refs"].splitlines())
        refs_after = set(after["refs"].splitlines())
        added = {r.split()[0] for r in refs_after - refs_before}
        assert refs_before - refs_after == set(), "a ref of the user's changed or vanished"
        assert added <= {BRANCH}
        for key in ("files", "git", "git-meta", "host"):
            assert after[key] == self.before[key], f"{key} changed"
        assert self.outcome.reason.strip(), "the task ended without a reason"
        if result_expected:
            assert self.outcome.status == "done", self.outcome.reason
            assert git(project, "show", f"{BRANCH}:feature.txt") == "written by the agent"
            assert git(project, "rev-parse", f"{BRANCH}^") == git(project, "rev-parse", "main")
        state = project / ".orchestra"
        assert not list((state / "worktrees").glob("*")), "the task's work tree was left"
        assert not list((state / "gitdirs").glob("*")), "the task's git dir was left"
        assert_nothing_running(self.run_id, project)


@dataclass
class Planned:
    """What one planner run did."""

    scene: Scene
    before: dict[str, Any]
    result: PlanResult
    run_id: str

    def assert_contained(self) -> None:
        """The user's tree, git and host files unchanged; no planted command ran."""
        scene = self.scene
        assert not scene.marker.exists(), "a command the agent planted ran on the host"
        git(scene.project, "fsck", "--strict", "--no-dangling")
        after = scene.snapshot()
        for key in ("refs", "files", "git", "git-meta", "host"):
            assert after[key] == self.before[key], f"{key} changed"
        assert git(scene.project, "status", "--porcelain") == self.before["status"]
        state = scene.project / ".orchestra"
        assert not list((state / "worktrees").glob("*")), "the planner's work tree was left"
        assert_nothing_running(self.run_id, scene.project)


def fifos_under(root: Path) -> list[Path]:
    """Every FIFO under ``root`` (links not followed)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            with contextlib.suppress(OSError):
                if stat.S_ISFIFO(os.lstat(Path(dirpath, name)).st_mode):
                    found.append(Path(dirpath, name))
    return found


def within(seconds: float, action: Callable[[], T], unblock: Path) -> T:
    """``action()`` in a thread; fails the test if it takes longer than ``seconds``.

    A host call stuck on a FIFO an agent planted would hang the test run for good: on a
    timeout every FIFO under ``unblock`` is opened for writing, which releases the reader.
    """
    done: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            done.append(action())
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for fifo in fifos_under(unblock):
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(30)
        pytest.fail(f"the host hung for over {seconds} s (a FIFO where it expected a folder?)")
    if errors:
        raise errors[0]
    return done[0]


def assert_nothing_running(run_id: str, project: Path) -> None:
    """No container of the run, no process of the agent, is left."""
    try:
        import docker

        client = docker.from_env()
        left = client.containers.list(all=True, filters={"label": f"orchestra.run={run_id}"})
        client.close()
        assert left == [], f"containers left: {[c.name for c in left]}"
    except ImportError:  # pragma: no cover - docker is a dependency
        raise
    mine = str(project)
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "hostile_agent.py" in cmdline and mine in cmdline:
                pytest.fail(f"agent process {entry.name} left running: {cmdline[:200]}")


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    root = tmp_path
    host = root / "host"
    host.mkdir()
    (host / "secret.txt").write_text(f"TOP SECRET {SECRET}\n", encoding="utf-8")
    (host / "victim.txt").write_text("keep me\n", encoding="utf-8")
    project = root / "user"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    for key, value in (("user.name", "u"), ("user.email", "u@x")):
        git(project, "config", key, value)
    (project / "a.txt").write_text("one\n", encoding="utf-8")
    (project / "README.md").write_text("# The user's project\n", encoding="utf-8")
    (project / "NOTES.md").write_text("notes\n", encoding="utf-8")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "first")
    (project / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    git(project, "commit", "-q", "-am", "second")
    git(project, "branch", "other", "HEAD~1")
    (project / ".git" / "info").mkdir(exist_ok=True)
    (project / ".git" / "info" / "exclude").write_text(".orchestra/\norchestra.yaml\n")
    (project / "orchestra.yaml").write_text("{}\n", encoding="utf-8")
    (project / "a.txt").write_text("dirty, unstaged\n", encoding="utf-8")
    (project / "README.md").write_text("# The user's project\nunsaved edit\n", encoding="utf-8")
    (project / "staged.txt").write_text("staged\n", encoding="utf-8")
    git(project, "add", "staged.txt")
    (project / "untracked.txt").write_text("untracked\n", encoding="utf-8")
    git(project, "status", "--porcelain")  # a refreshed index: stable bytes from here on
    yield Scene(root, project, host, root / "PWNED")


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """The engine and the image the hostile agent runs in; missing → skip (fail in CI)."""
    from docker.errors import DockerException, ImageNotFound

    import docker

    try:
        client = docker.from_env()
        client.images.get(IMAGE)
        client.close()
    except (DockerException, ImageNotFound) as exc:
        reason = f"Docker or the image {IMAGE!r} is missing ({exc}): run scripts/build-orchestrator-image.sh"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)

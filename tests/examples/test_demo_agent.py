"""The offline demo: setup_demo.py and the scripted demo agent, run as real processes, no mocks."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from orchestra.config.models import OrchestraConfig
from orchestra.engine.handoff import parse_handoff

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo"
AGENT = DEMO / "demo_agent.py"
HEADINGS = ("## Summary", "## Actions", "## Artifacts", "## Risks", "## Next")


def _load_setup_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("setup_demo", DEMO / "setup_demo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


setup_demo = _load_setup_demo()


@pytest.fixture(autouse=True)
def _no_agent_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent's test knobs come only from the test that sets them."""
    for name in list(os.environ):
        if name.startswith("DEMO_AGENT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh demo repository made by setup_demo.setup()."""
    return setup_demo.setup(tmp_path / "demo")


def planner_prompt(workspace: Path, out: Path, staging: Path, wanted: int = 4) -> str:
    return (
        "# Orchestra planner\n\n"
        f"Role: planner\nStep: planner\nWorkspace: {workspace}\nOutput folder: {out}\n"
        f"Staging folder: {staging}\nTasks wanted: {wanted}\n\n"
        "Goal: make the tests pass.\n\n"
        "## Task file format\n\n```markdown\n---\ntitle: Short title\n---\n\n## Goal\n...\n```\n"
    )


def step_prompt(role: str, step: str, task: str, workspace: Path, out: Path) -> str:
    """A step prompt shaped like the real ones: fields, the task, then earlier handoffs."""
    return (
        f"# Orchestra task step: {step}\n\n"
        f"Role: {role}\nStep: {step}\nWorkspace: {workspace}\nOutput folder: {out}\n\n"
        "Do the step for the task below.\n\n"
        f"## Task\n\n{task}\n\n"
        "## Earlier steps\n\n### Plan\n\n## Summary\n\nSomething was planned.\n\n"
        "## Finish\n\nWrite your handoff report.\n\nVerdict: APPROVE\nVerdict: CHANGES_REQUESTED\n"
    )


def run_agent(
    prompt: str, workspace: Path, out: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the agent the way Orchestra does: prompt file, workspace, output folder, cwd."""
    prompt_file = out.parent / f"{out.name}-prompt.md"
    prompt_file.parent.mkdir(parents=True, exist_ok=True)
    prompt_file.write_text(prompt, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(AGENT), str(prompt_file), str(workspace), str(out)],
        cwd=workspace,
        input=prompt,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def unittest_run(workspace: Path, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unittest", target],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file and folder under ``root`` (folders as a marker), to compare before/after."""
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"/" for p in root.rglob("*")
    }


def plan(workspace: Path, tmp_path: Path, wanted: int = 4) -> dict[str, str]:
    """Run the planner; the task files it wrote, by name."""
    staging = tmp_path / "staging"
    done = run_agent(
        planner_prompt(workspace, tmp_path / "out-planner", staging, wanted),
        workspace,
        tmp_path / "out-planner",
    )
    assert done.returncode == 0, done.stderr
    if not staging.exists():
        return {}
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(staging.iterdir())}


def task_for(workspace: Path, tmp_path: Path, name: str) -> str:
    tasks = plan(workspace, tmp_path)
    return next(text for text in tasks.values() if f"calc.ops.{name}" in text)


def run_step(
    role: str, step: str, task: str, workspace: Path, out: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = run_agent(step_prompt(role, step, task, workspace, out), workspace, out, env)
    assert done.returncode == 0, done.stderr
    return done


def handoff(out: Path) -> str:
    return (out / "handoff.md").read_text(encoding="utf-8")


class TestSetup:
    def test_makes_a_committed_repository_whose_multiply_tests_fail(self, workspace: Path) -> None:
        """setup() commits the project on main with a clean tree, and TestMultiply fails there."""
        status = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=workspace,
            capture_output=True,
            text=True,
            check=True,
        )
        log = subprocess.run(
            ["git", "log", "--format=%s|%an|%D"],
            cwd=workspace,
            capture_output=True,
            text=True,
            check=True,
        )
        assert status.stdout == ""
        assert log.stdout.strip() == "Initial demo project|Demo User|HEAD -> main"
        assert unittest_run(workspace, "tests.test_ops.TestMultiply").returncode != 0
        assert unittest_run(workspace, "tests.test_ops.TestAdd").returncode == 0

    def test_keeps_orchestra_folder_out_of_git(self, workspace: Path) -> None:
        """.orchestra/ is in .git/info/exclude, so Orchestra's own files never show as changes."""
        (workspace / ".orchestra" / "queue").mkdir(parents=True)
        (workspace / ".orchestra" / "queue" / "task-1.md").write_text("x", encoding="utf-8")
        status = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=workspace,
            capture_output=True,
            text=True,
            check=True,
        )
        assert ".orchestra/" in (workspace / ".git" / "info" / "exclude").read_text()
        assert status.stdout == ""

    def test_config_runs_every_worker_with_the_demo_agent(self, workspace: Path) -> None:
        """DEST/orchestra.yaml validates and runs the absolute demo_agent.py for all five roles."""
        config = OrchestraConfig.model_validate(
            yaml.safe_load((workspace / "orchestra.yaml").read_text(encoding="utf-8"))
        )
        assert {w: p.role for w, p in config.workers.items()} == {
            r: r for r in ("planner", "architect", "coder", "reviewer", "fixer")
        }
        for profile in config.workers.values():
            assert profile.command is not None
            assert profile.command[1] == str(AGENT)
            assert (profile.agent, profile.runtime.kind) == ("command", "process")

    def test_refuses_a_non_empty_destination(self, tmp_path: Path) -> None:
        """setup() refuses a destination that already has files, naming it, and leaves it alone."""
        (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
        with pytest.raises(setup_demo.SetupError, match="not empty"):
            setup_demo.setup(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]

    def test_script_prints_the_destination(self, tmp_path: Path) -> None:
        """`python setup_demo.py DEST` prints DEST; a second run fails with a message."""
        dest = tmp_path / "d"
        argv = [sys.executable, str(DEMO / "setup_demo.py"), str(dest)]
        first = subprocess.run(argv, capture_output=True, text=True, check=False)
        second = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert (first.returncode, first.stdout.strip()) == (0, str(dest.resolve()))
        assert second.returncode == 1
        assert "already exists and is not empty" in second.stderr


class TestPlanner:
    def test_writes_one_task_per_missing_function(self, workspace: Path, tmp_path: Path) -> None:
        """The planner writes task-1.md (divide) and task-2.md (multiply) into staging."""
        tasks = plan(workspace, tmp_path)
        assert sorted(tasks) == ["task-1.md", "task-2.md"]
        assert "title: Add calc.ops.divide" in tasks["task-1.md"]
        assert "title: Add calc.ops.multiply" in tasks["task-2.md"]

    def test_touches_nothing_else_in_the_workspace(self, workspace: Path, tmp_path: Path) -> None:
        """Apart from staging and its output folder, the planner leaves the workspace as it was."""
        before = snapshot(workspace)
        plan(workspace, tmp_path)
        assert snapshot(workspace) == before

    def test_task_files_have_front_matter_and_required_sections(
        self, workspace: Path, tmp_path: Path
    ) -> None:
        """Each task has YAML front matter (title, verify) and Goal/Acceptance criteria headings."""
        for text, name in zip(
            plan(workspace, tmp_path).values(), ("Divide", "Multiply"), strict=True
        ):
            _, front, body = text.split("---\n", 2)
            assert yaml.safe_load(front) == {
                "title": f"Add calc.ops.{name.lower()}",
                "verify": f"python3 -m unittest tests.test_ops.Test{name}",
            }
            for heading in (
                "# Goal",
                "# Before",
                "# After",
                "# Acceptance criteria",
                "# Files to touch",
                "# Test plan",
            ):
                assert f"\n{heading}\n" in body
            assert "```python\ndef " in body

    def test_writes_at_most_tasks_wanted(self, workspace: Path, tmp_path: Path) -> None:
        """With `Tasks wanted: 1` only the first missing function (sorted) gets a task."""
        tasks = plan(workspace, tmp_path, wanted=1)
        assert list(tasks) == ["task-1.md"]
        assert "calc.ops.divide" in tasks["task-1.md"]

    def test_writes_no_task_when_nothing_is_missing(self, workspace: Path, tmp_path: Path) -> None:
        """Once every called function exists, the planner writes no task and says so."""
        ops = workspace / "calc" / "ops.py"
        ops.write_text(
            ops.read_text() + "\n\ndef multiply(a, b):\n    return a * b\n"
            "\n\ndef divide(a, b):\n    return a / b\n"
        )
        assert plan(workspace, tmp_path) == {}
        assert "wrote no task" in handoff(tmp_path / "out-planner")

    def test_unknown_function_gets_a_task_for_a_human(
        self, workspace: Path, tmp_path: Path
    ) -> None:
        """A missing function the agent cannot write gets a task anyway, marked NEEDS A HUMAN."""
        (workspace / "tests" / "test_power.py").write_text(
            "import unittest\nfrom calc import ops\n\n\nclass TestPower(unittest.TestCase):\n"
            "    def test_power(self):\n        self.assertEqual(ops.power(2, 3), 8)\n"
        )
        tasks = plan(workspace, tmp_path)
        power = tasks["task-3.md"]
        assert "verify: python3 -m unittest tests.test_power.TestPower" in power
        assert "NEEDS A HUMAN" in power
        assert "```python" not in power


class TestCoder:
    def test_makes_test_multiply_pass(self, workspace: Path, tmp_path: Path) -> None:
        """After the coder runs the multiply task, `python -m unittest ...TestMultiply` passes."""
        run_step(
            "coder",
            "implement",
            task_for(workspace, tmp_path, "multiply"),
            workspace,
            tmp_path / "out-coder",
        )
        assert unittest_run(workspace, "tests.test_ops.TestMultiply").returncode == 0
        assert unittest_run(workspace, "tests.test_ops.TestAdd").returncode == 0

    def test_is_idempotent(self, workspace: Path, tmp_path: Path) -> None:
        """A second coder run on the same task leaves calc/ops.py as the first run left it."""
        task = task_for(workspace, tmp_path, "multiply")
        run_step("coder", "implement", task, workspace, tmp_path / "out-1")
        once = (workspace / "calc" / "ops.py").read_text()
        run_step("coder", "implement", task, workspace, tmp_path / "out-2")
        assert (workspace / "calc" / "ops.py").read_text() == once
        assert once.count("def multiply(") == 1
        assert "already defined" in handoff(tmp_path / "out-2")

    def test_changes_nothing_for_a_task_that_needs_a_human(
        self, workspace: Path, tmp_path: Path
    ) -> None:
        """For a task marked NEEDS A HUMAN the coder changes nothing and says so in Risks."""
        (workspace / "tests" / "test_power.py").write_text(
            "from calc import ops\n\n\ndef test_power():\n    assert ops.power(2, 3) == 8\n"
        )
        before = snapshot(workspace)
        run_step(
            "coder",
            "implement",
            task_for(workspace, tmp_path, "power"),
            workspace,
            tmp_path / "out-coder",
        )
        assert snapshot(workspace) == before
        assert "needs a human" in parse_handoff(handoff(tmp_path / "out-coder")).risks


class TestFixer:
    def test_replaces_a_wrong_definition(self, workspace: Path, tmp_path: Path) -> None:
        """The fixer replaces an incorrect `multiply` with the task's, and the tests pass."""
        task = task_for(workspace, tmp_path, "multiply")
        ops = workspace / "calc" / "ops.py"
        ops.write_text(ops.read_text() + "\n\ndef multiply(a, b):\n    return a + b\n")
        run_step("fixer", "fix", task, workspace, tmp_path / "out-fixer")
        assert ops.read_text().count("def multiply(") == 1
        assert unittest_run(workspace, "tests.test_ops.TestMultiply").returncode == 0


class TestReviewer:
    def test_requests_changes_before_the_coder(self, workspace: Path, tmp_path: Path) -> None:
        """Before the change the reviewer ends with CHANGES_REQUESTED and the failure in Risks."""
        out = tmp_path / "out-reviewer"
        run_step("reviewer", "review", task_for(workspace, tmp_path, "multiply"), workspace, out)
        text = handoff(out)
        assert text.rstrip().splitlines()[-1] == "Verdict: CHANGES_REQUESTED"
        assert "AttributeError" in parse_handoff(text).risks

    def test_approves_after_the_coder(self, workspace: Path, tmp_path: Path) -> None:
        """After the coder the reviewer runs the Test plan and ends with `Verdict: APPROVE`."""
        task = task_for(workspace, tmp_path, "divide")
        run_step("coder", "implement", task, workspace, tmp_path / "out-coder")
        run_step("reviewer", "review", task, workspace, tmp_path / "out-reviewer")
        assert handoff(tmp_path / "out-reviewer").rstrip().splitlines()[-1] == "Verdict: APPROVE"

    def test_reject_knob_requests_changes_anyway(self, workspace: Path, tmp_path: Path) -> None:
        """DEMO_AGENT_REJECT=1 makes the reviewer request changes even when the tests pass."""
        task = task_for(workspace, tmp_path, "divide")
        run_step("coder", "implement", task, workspace, tmp_path / "out-coder")
        out = tmp_path / "out-reviewer"
        run_step("reviewer", "review", task, workspace, out, env={"DEMO_AGENT_REJECT": "1"})
        assert parse_handoff(handoff(out)).verdict == "CHANGES_REQUESTED"

    def test_leaves_the_workspace_untouched(self, workspace: Path, tmp_path: Path) -> None:
        """Running the tests as reviewer writes nothing into the workspace (no __pycache__)."""
        before = snapshot(workspace)
        run_step(
            "reviewer",
            "review",
            task_for(workspace, tmp_path, "multiply"),
            workspace,
            tmp_path / "out-reviewer",
        )
        assert snapshot(workspace) == before


class TestEveryRole:
    @pytest.mark.parametrize(
        ("role", "step"),
        [("architect", "plan"), ("coder", "implement"), ("reviewer", "review"), ("fixer", "fix")],
    )
    def test_step_roles_write_a_handoff_with_five_headings(
        self, workspace: Path, tmp_path: Path, role: str, step: str
    ) -> None:
        """Each step role writes handoff.md with the five headings and prints it on stdout."""
        out = tmp_path / f"out-{role}"
        done = run_step(role, step, task_for(workspace, tmp_path, "multiply"), workspace, out)
        text = handoff(out)
        assert [line for line in text.splitlines() if line.startswith("## ")] == list(HEADINGS)
        assert text.strip() in done.stdout
        assert "demo-agent: playing" in done.stdout

    def test_planner_writes_a_handoff_with_five_headings(
        self, workspace: Path, tmp_path: Path
    ) -> None:
        """The planner's handoff.md has the five headings and lists the task files as Artifacts."""
        plan(workspace, tmp_path)
        text = handoff(tmp_path / "out-planner")
        assert [line for line in text.splitlines() if line.startswith("## ")] == list(HEADINGS)
        assert "task-2.md" in parse_handoff(text).artifacts

    def test_architect_does_not_modify_the_workspace(self, workspace: Path, tmp_path: Path) -> None:
        """The architect only reads: the workspace is byte for byte the same afterwards."""
        before = snapshot(workspace)
        run_step(
            "architect",
            "plan",
            task_for(workspace, tmp_path, "divide"),
            workspace,
            tmp_path / "out-architect",
        )
        assert snapshot(workspace) == before
        assert "calc/ops.py" in parse_handoff(handoff(tmp_path / "out-architect")).artifacts

    def test_whole_demo_makes_every_test_pass(self, workspace: Path, tmp_path: Path) -> None:
        """Planner, then architect → coder → reviewer per task: all approved, all tests pass."""
        for name, task in plan(workspace, tmp_path).items():
            for role, step in (
                ("architect", "plan"),
                ("coder", "implement"),
                ("reviewer", "review"),
            ):
                run_step(role, step, task, workspace, tmp_path / f"{name}-{step}")
            assert parse_handoff(handoff(tmp_path / f"{name}-review")).verdict == "APPROVE"
        assert unittest_run(workspace, "discover").returncode == 0


class TestFailures:
    def test_prompt_without_role_line_exits_2(self, workspace: Path, tmp_path: Path) -> None:
        """A prompt with no `Role:` line: exit 2, a message on stderr, no handoff written."""
        out = tmp_path / "out"
        done = run_agent("Please do something useful.\n", workspace, out)
        assert done.returncode == 2
        assert "Role:" in done.stderr
        assert not (out / "handoff.md").exists()

    def test_fail_role_knob_exits_1_without_changes(self, workspace: Path, tmp_path: Path) -> None:
        """DEMO_AGENT_FAIL_ROLE=coder makes the coder exit 1 with a message and change nothing."""
        task = task_for(workspace, tmp_path, "multiply")
        before = snapshot(workspace)
        out = tmp_path / "out"
        done = run_agent(
            step_prompt("coder", "implement", task, workspace, out),
            workspace,
            out,
            env={"DEMO_AGENT_FAIL_ROLE": "coder"},
        )
        assert done.returncode == 1
        assert "DEMO_AGENT_FAIL_ROLE" in done.stderr
        assert snapshot(workspace) == before

    def test_sleep_knob_delays_the_agent(self, workspace: Path, tmp_path: Path) -> None:
        """DEMO_AGENT_SLEEP keeps the agent running, so a short time limit expires first."""
        out = tmp_path / "out"
        prompt_file = tmp_path / "prompt.md"
        prompt_file.write_text(planner_prompt(workspace, out, tmp_path / "staging"))
        with pytest.raises(subprocess.TimeoutExpired):
            subprocess.run(
                [sys.executable, str(AGENT), str(prompt_file), str(workspace), str(out)],
                cwd=workspace,
                capture_output=True,
                timeout=0.5,
                env={**os.environ, "DEMO_AGENT_SLEEP": "30"},
                check=False,
            )
        assert not (tmp_path / "staging").exists()

#!/usr/bin/env python3
"""Orchestra's scripted demo agent: plays every role deterministically, standard library only.

    demo_agent.py PROMPT_FILE WORKSPACE OUTPUT_DIR     (cwd = WORKSPACE; stdin is ignored)

It reads the machine-readable lines of the prompt (``Role:``, ``Step:``, ``Output folder:``,
``Workspace:``; for the planner also ``Staging folder:`` and ``Tasks wanted:``) and, for a
step, the task file given under the ``## Task`` heading. Then, by role:

planner    one task file per function that ``tests/`` calls as ``ops.<name>(`` but
           ``calc/ops.py`` does not define (sorted, at most "Tasks wanted"), written as
           ``<staging>/task-<n>.md``; nothing else is written
architect  reads the task and writes a plan; changes nothing
coder      appends the task's ```python block (section After) to the file in Files to touch,
           unless that function is already defined there (so a second run changes nothing)
fixer      the same, and also replaces a definition that differs from the task's
reviewer   runs the Test plan command (only ``python -m unittest ...``) and ends with
           ``Verdict: APPROVE`` when it passes, else ``Verdict: CHANGES_REQUESTED``

Every role writes ``OUTPUT_DIR/handoff.md`` (## Summary, Actions, Artifacts, Risks, Next) and
prints it after a few progress lines. Exit status: 0 done, 1 failed on purpose
(``DEMO_AGENT_FAIL_ROLE``), 2 arguments or prompt not understood.

Knobs for tests: ``DEMO_AGENT_SLEEP=<seconds>`` (sleep before acting),
``DEMO_AGENT_FAIL_ROLE=<role>`` (exit 1 when playing that role), ``DEMO_AGENT_REJECT=1``
(the reviewer always requests changes).
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("planner", "architect", "coder", "reviewer", "fixer")
TASK_SECTIONS = ("goal", "before", "after", "acceptance criteria", "files to touch", "test plan")
TARGET = "calc/ops.py"
NEEDS_HUMAN = "NEEDS A HUMAN"
TEST_TIMEOUT = 120
TAIL_LINES = 25

#: The functions this agent knows how to write; any other name gets a task for a human.
KNOWN_FUNCTIONS = {
    "multiply": ('def multiply(a, b):\n    """Return a times b."""\n    return a * b\n'),
    "divide": (
        "def divide(a, b):\n"
        '    """Return a divided by b; raise ValueError when b is zero."""\n'
        "    if b == 0:\n"
        '        raise ValueError("division by zero")\n'
        "    return a / b\n"
    ),
}

_FIELD = re.compile(
    r"^[ \t]*(?:[-*][ \t]+)?(Role|Step|Output folder|Workspace|Staging folder|Tasks wanted)"
    r"[ \t]*:[ \t]*`?(.*?)`?[ \t]*$",
    re.MULTILINE,
)
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*(.*)$")


class PromptError(Exception):
    """The prompt or the arguments cannot be understood (exit status 2)."""


@dataclass
class Handoff:
    """What a role reports; rendered into handoff.md."""

    summary: str
    actions: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)
    next: list[str] = field(default_factory=list)
    verdict: str | None = None

    def render(self) -> str:
        def items(lines: list[str], empty: str) -> str:
            return "\n".join(f"- {line}" for line in lines) if lines else empty

        text = (
            f"## Summary\n\n{self.summary}\n\n"
            f"## Actions\n\n{items(self.actions, 'None.')}\n\n"
            f"## Artifacts\n\n{items(self.artifacts, 'None.')}\n\n"
            f"## Risks\n\n{items(self.risks, 'None.')}\n\n"
            f"## Next\n\n{items(self.next, 'Nothing.')}\n"
        )
        return text + (f"\nVerdict: {self.verdict}\n" if self.verdict else "")


def say(message: str) -> None:
    """A progress line on stdout (streamed into the Prefect UI)."""
    print(f"demo-agent: {message}", flush=True)


# ---------------------------------------------------------------- reading the prompt


def _fence_state(fence: tuple[str, int] | None, line: str) -> tuple[str, int] | None:
    """The open fence (char, length) after ``line``; None when outside fenced code."""
    found = _FENCE.match(line)
    if found is None:
        return fence
    marker = found.group(1)
    if fence is None:
        return marker[0], len(marker)
    closes = marker[0] == fence[0] and len(marker) >= fence[1] and not found.group(2).strip()
    return None if closes else fence


def split_prompt(prompt: str) -> tuple[str, str]:
    """Split the prompt into (everything else, the task under ``## Task``)."""
    lines = prompt.splitlines()
    fence = None
    start = end = None
    for i, line in enumerate(lines):
        heading = None if fence else _HEADING.match(line)
        fence = _fence_state(fence, line)
        if heading is None:
            continue
        name = heading.group(2).strip().strip("*_:").strip().lower()
        if start is None and len(heading.group(1)) == 2 and name == "task":
            start = i
        elif start is not None and len(heading.group(1)) <= 2 and name not in TASK_SECTIONS:
            end = i
            break
    if start is None:
        return prompt, ""
    task = lines[start + 1 : end]
    while task and not task[0].strip():
        task.pop(0)
    while task and not task[-1].strip():
        task.pop()
    opening = _FENCE.match(task[0]) if task else None
    if opening and len(task) > 1 and task[-1].strip() == opening.group(1):  # wrapped whole
        task = task[1:-1]
    return "\n".join(lines[:start] + lines[end or len(lines) :]), "\n".join(task)


def prompt_fields(text: str) -> dict[str, str]:
    """The machine-readable ``Name: value`` lines; the first of each name wins."""
    fields: dict[str, str] = {}
    for match in _FIELD.finditer(text):
        fields.setdefault(match.group(1).lower(), match.group(2).strip())
    return fields


@dataclass
class Task:
    """The parts of a task file this agent uses."""

    front: dict[str, str]
    sections: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Task:
        front: dict[str, str] = {}
        lines = text.splitlines()
        if lines and lines[0].strip() == "---" and "---" in (s.strip() for s in lines[1:]):
            end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
            for line in lines[1:end]:
                key, sep, value = line.partition(":")
                if sep:
                    front[key.strip()] = value.strip().strip("\"'")
            lines = lines[end + 1 :]
        sections: dict[str, list[str]] = {}
        current: list[str] | None = None
        level, fence = 0, None
        for line in lines:
            heading = None if fence else _HEADING.match(line)
            fence = _fence_state(fence, line)
            if heading is not None:
                name = heading.group(2).strip().strip("*_:").strip().lower()
                if name in TASK_SECTIONS:
                    current, level = sections.setdefault(name, []), len(heading.group(1))
                    continue
                if len(heading.group(1)) <= level:  # an unknown sibling heading ends it
                    current, level = None, 0
            if current is not None:
                current.append(line)
        return cls(front, {name: "\n".join(body).strip() for name, body in sections.items()})

    @property
    def title(self) -> str:
        return self.front.get("title") or self.sections.get("goal", "the task").splitlines()[0]

    def code(self) -> str | None:
        """The first ```python block of After, or None."""
        block: list[str] | None = None
        for line in self.sections.get("after", "").splitlines():
            found = _FENCE.match(line)
            if block is None and found and found.group(2).strip().lower() in {"python", "py"}:
                block = []
            elif block is not None and found and not found.group(2).strip():
                return "\n".join(block).rstrip() + "\n"
            elif block is not None:
                block.append(line)
        return None

    def needs_human(self) -> bool:
        return NEEDS_HUMAN.lower() in self.sections.get("after", "").lower() or not self.code()

    def target(self) -> str | None:
        """The first path listed under Files to touch (``- path: why`` is fine too)."""
        for line in self.sections.get("files to touch", "").splitlines():
            found = re.match(r"[ \t]*(?:[-*+][ \t]+)?`?([^\s`:]+)", line)
            if found:
                return found.group(1)
        return None

    def test_command(self) -> str | None:
        """The ``python -m unittest`` command of the Test plan, else the front matter's verify."""
        for line in self.sections.get("test plan", "").splitlines():
            spans: list[str] = re.findall(r"`([^`]+)`", line)
            spans = spans or [line.strip().removeprefix("$ ")]
            for span in spans:
                if "-m unittest" in span:
                    return span.strip()
        return self.front.get("verify") or None


# ---------------------------------------------------------------- the planner


def _defined_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _ops_calls(node: ast.AST) -> set[str]:
    """Names called as ``ops.<name>(`` (or ``calc.ops.<name>(``) anywhere under ``node``."""
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            owner = call.func.value
            if (isinstance(owner, ast.Name) and owner.id == "ops") or (
                isinstance(owner, ast.Attribute) and owner.attr == "ops"
            ):
                names.add(call.func.attr)
    return names


def find_missing(workspace: Path) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Map each missing function to (test file, unittest target); plus notes on what was skipped."""
    notes: list[str] = []
    ops_file = workspace / TARGET
    try:
        defined = _defined_names(ops_file)
    except (OSError, SyntaxError) as exc:
        return {}, [f"could not read {TARGET} ({exc}); planned nothing"]
    found: dict[str, tuple[str, str]] = {}
    for test_file in sorted((workspace / "tests").rglob("test*.py")):
        rel = test_file.relative_to(workspace)
        try:
            tree = ast.parse(test_file.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError) as exc:
            notes.append(f"skipped {rel} ({exc})")
            continue
        module = ".".join(rel.with_suffix("").parts)
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
        for name in sorted(_ops_calls(tree) - defined):
            camel = "Test" + "".join(part.capitalize() for part in name.split("_"))
            callers = [c.name for c in classes if name in _ops_calls(c)]
            target = camel if camel in callers else (callers[0] if callers else "")
            found.setdefault(name, (str(rel), f"{module}.{target}" if target else module))
    return found, notes


def task_text(name: str, test_file: str, target: str) -> str:
    """The task file for adding the missing function ``name``."""
    command = f"python3 -m unittest {target}"
    code = KNOWN_FUNCTIONS.get(name)
    if code is None:
        title = f"Add calc.ops.{name} (needs a human)"
        after = (
            f"{NEEDS_HUMAN}: `{TARGET}` should define `{name}` so that `{target}` passes, but "
            f"the demo agent knows no implementation of `{name}`; a person has to write it. "
            "There is no code block here, so the coder changes nothing and the review "
            "will ask for changes."
        )
    else:
        title = f"Add calc.ops.{name}"
        after = (
            f"`{TARGET}` ends with this function (appended; everything else unchanged):\n\n"
            f"```python\n{code}```"
        )
    return (
        f"---\ntitle: {title}\nverify: {command}\n---\n\n"
        f"# Goal\n\nAdd the missing function `{name}` to `{TARGET}` so that `{target}` "
        "passes.\n\n"
        f"# Before\n\n`{test_file}` calls `ops.{name}(...)`, but `{TARGET}` does not define "
        f"`{name}`, so `{command}` fails with an AttributeError.\n\n"
        f"# After\n\n{after}\n\n"
        f"# Acceptance criteria\n\n- `{command}` passes.\n"
        f"- `{TARGET}` defines `{name}` exactly once; the functions already there are "
        "unchanged.\n- No other file changes.\n\n"
        f"# Files to touch\n\n- {TARGET}\n\n"
        f"# Test plan\n\nRun from the project root; it must pass:\n\n```sh\n{command}\n```\n"
    )


def plan_tasks(fields: dict[str, str], workspace: Path) -> Handoff:
    if "staging folder" not in fields:
        msg = "a planner prompt needs a 'Staging folder: <path>' line"
        raise PromptError(msg)
    wanted_text = fields.get("tasks wanted", "")
    if wanted_text and not (wanted_text.isdigit() and int(wanted_text) > 0):
        msg = f"'Tasks wanted: {wanted_text}' is not a whole number above 0"
        raise PromptError(msg)
    staging = workspace / fields["staging folder"]  # an absolute path stays as it is
    say(f"scanning {workspace / 'tests'} for ops.<name>( calls missing from {TARGET}")
    missing, notes = find_missing(workspace)
    names = sorted(missing)[: int(wanted_text)] if wanted_text else sorted(missing)
    if not names:
        say("nothing is missing: writing no task")
        return Handoff(
            summary=f"Every function that tests/ calls is defined in {TARGET}; wrote no task.",
            actions=[f"Scanned tests/ and {TARGET} with ast.", *notes],
            risks=notes,
            next=["Nothing to do until a test calls a function that does not exist."],
        )
    staging.mkdir(parents=True, exist_ok=True)
    taken = [
        int(m.group(1)) for p in staging.iterdir() if (m := re.match(r"task-(\d+)\.md$", p.name))
    ]
    written = []
    for number, name in enumerate(names, start=max(taken, default=0) + 1):
        path = staging / f"task-{number}.md"
        path.write_text(task_text(name, *missing[name]), encoding="utf-8")
        kind = "known code" if name in KNOWN_FUNCTIONS else "needs a human"
        say(f"wrote {path.name}: add {name} ({kind})")
        written.append(path)
    unknown = [n for n in names if n not in KNOWN_FUNCTIONS]
    return Handoff(
        summary=f"Wrote {len(written)} task(s), one per missing function: {', '.join(names)}.",
        actions=[f"Scanned tests/ and {TARGET} with ast.", *notes],
        artifacts=[str(p) for p in written],
        risks=[f"No known implementation of {n}: its task needs a human." for n in unknown],
        next=["Queue the task files and run each through plan, implement, review (and fix)."],
    )


# ---------------------------------------------------------------- the step roles


def load_task(task_part: str) -> Task:
    task = Task.parse(task_part)
    if not task.sections:
        msg = "the prompt has no task under a '## Task' heading (with Goal, After, ... sections)"
        raise PromptError(msg)
    return task


def function_name(code: str) -> str | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    return next((n.name for n in tree.body if isinstance(n, ast.FunctionDef)), None)


def resolve_target(task: Task, workspace: Path) -> Path | None:
    relative = task.target()
    if relative is None:
        return None
    path = (workspace / relative).resolve()
    return path if path.is_relative_to(workspace.resolve()) else None


def plan_step(task: Task, workspace: Path) -> Handoff:
    code, target, command = task.code(), task.target(), task.test_command()
    name = function_name(code) if code else None
    if task.needs_human() or name is None or target is None:
        return Handoff(
            summary=f"Plan for {task.title!r}: nothing the coder can do; it needs a human.",
            actions=["Read the task: its After section gives no code to add."],
            artifacts=[target or TARGET],
            risks=["The task needs a human; the review will fail until someone writes the code."],
            next=["Coder: change nothing and report that the task needs a human."],
        )
    path = resolve_target(task, workspace)
    source = path.read_text(encoding="utf-8") if path and path.is_file() else ""
    exists = re.search(rf"^def\s+{name}\s*\(", source, re.M)
    state = "is already defined there" if exists else "is not defined yet"
    return Handoff(
        summary=f"Plan for {task.title!r}: append `{name}` to {target}; `{command}` must pass.",
        actions=["Read the task.", f"Read {target}: `{name}` {state}."],
        artifacts=[f"{target} (to change)"],
        risks=["Low: the change appends one function and touches nothing else."],
        next=[
            f"Append the python code block of the task's After section to {target}.",
            f"Skip it if `def {name}(` is already there.",
            f"Run `{command}`; it must pass.",
        ],
    )


def _replace_definition(source: str, name: str, code: str) -> str | None:
    """``source`` with the top-level ``def name`` replaced by ``code``; None when unchanged."""
    tree = ast.parse(source)
    wanted = ast.dump(ast.parse(code).body[0])
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            if ast.dump(node) == wanted or node.end_lineno is None:
                return None
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            lines = source.splitlines(keepends=True)
            return "".join([*lines[: first - 1], code, *lines[node.end_lineno :]])
    return None


def change_step(task: Task, workspace: Path, *, repair: bool) -> Handoff:
    """Coder (``repair=False``) and fixer (``repair=True``): add the task's function."""
    code = task.code()
    name = function_name(code) if code else None
    path = resolve_target(task, workspace)
    if task.needs_human() or code is None or name is None:
        say("the task needs a human: changing nothing")
        return Handoff(
            summary=f"Changed nothing for {task.title!r}: the task needs a human.",
            actions=["Read the task: its After section gives no usable code."],
            risks=["The task needs a human; no code was written, so the tests still fail."],
            next=["A person writes the function, or the task is dropped."],
        )
    if path is None or not path.is_file():
        return Handoff(
            summary=f"Changed nothing for {task.title!r}: no usable file in Files to touch.",
            actions=[f"Looked for {task.target()!r} inside the workspace."],
            risks=[f"Files to touch names {task.target()!r}, which is not a file here."],
            next=["Fix the task's Files to touch section."],
        )
    rel = path.relative_to(workspace.resolve())
    source = path.read_text(encoding="utf-8")
    if re.search(rf"^def\s+{name}\s*\(", source, re.M):
        replaced = None
        if repair:
            try:
                replaced = _replace_definition(source, name, code)
            except SyntaxError as exc:
                return Handoff(
                    summary=f"Could not repair {rel}: it does not parse.",
                    actions=[f"Parsed {rel}: {exc}."],
                    risks=[f"{rel} has a syntax error the demo agent cannot fix."],
                    next=["A person fixes the syntax error."],
                )
        if replaced is None:
            say(f"`def {name}(` is already in {rel}: nothing to change")
            return Handoff(
                summary=f"`{name}` is already defined in {rel}; changed nothing.",
                actions=[f"Found `def {name}(` in {rel}."],
                artifacts=[str(rel)],
                next=[f"Review: run `{task.test_command()}`."],
            )
        path.write_text(replaced, encoding="utf-8")
        say(f"replaced the definition of {name} in {rel}")
        action = f"Replaced the definition of `{name}` in {rel} with the task's."
    else:
        separator = "" if not source else ("\n\n" if source.endswith("\n") else "\n\n\n")
        path.write_text(source + separator + code, encoding="utf-8")
        say(f"appended {name} to {rel}")
        action = f"Appended `{name}` to {rel}."
    return Handoff(
        summary=f"Added `{name}` to {rel} for {task.title!r}.",
        actions=[action],
        artifacts=[f"{rel} (changed)"],
        next=[f"Review: run `{task.test_command()}`; it should pass."],
    )


def run_tests(command: str, workspace: Path) -> tuple[bool, str]:
    """Run a ``python -m unittest ...`` command; (passed, output)."""
    argv = shlex.split(command)
    if (
        len(argv) < 3
        or Path(argv[0]).name not in {"python", "python3"}
        or argv[1:3] != ["-m", "unittest"]
    ):
        return (
            False,
            f"refused to run {command!r}: the demo reviewer only runs `python -m unittest ...`",
        )
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")  # the reviewer leaves no __pycache__
    try:
        done = subprocess.run(
            [sys.executable, *argv[1:]],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=TEST_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"{command!r} did not finish within {TEST_TIMEOUT} s"
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def review_step(task: Task, workspace: Path) -> Handoff:
    command = task.test_command()
    if command is None:
        passed, output = False, "the task has no Test plan command and no verify front matter"
    else:
        say(f"running {command}")
        passed, output = run_tests(command, workspace)
    tail = "\n".join(output.splitlines()[-TAIL_LINES:])
    # unittest's "Ran 3 tests in 0.004s" differs run to run; the same review must read the same
    # (Orchestra's loop detection compares a reviewer's rounds).
    tail = re.sub(r"(Ran \d+ tests?) in [\d.]+s", r"\1", tail)
    rejected = os.environ.get("DEMO_AGENT_REJECT") == "1"
    say(f"tests {'passed' if passed else 'failed'}{' (rejecting anyway)' if rejected else ''}")
    if passed and not rejected:
        return Handoff(
            summary=f"`{command}` passes: {task.title!r} is done.",
            actions=[f"Ran `{command}`: passed."],
            next=["Accept the change."],
            verdict="APPROVE",
        )
    risk = "DEMO_AGENT_REJECT=1: changes requested on purpose." if passed else "Tests fail:"
    return Handoff(
        summary=f"`{command}` {'passes' if passed else 'fails'}: changes requested.",
        actions=[f"Ran `{command}`: {'passed' if passed else 'failed'}."],
        risks=[f"{risk}\n\n```text\n{tail}\n```"],
        next=["Fixer: add or repair the function from the task's After section."],
        verdict="CHANGES_REQUESTED",
    )


# ---------------------------------------------------------------- main


def act(prompt: str, workspace: Path) -> Handoff:
    """Play the role the prompt names; PromptError when the prompt cannot be understood."""
    rest, task_part = split_prompt(prompt)
    fields = prompt_fields(rest)
    role = fields.get("role", "").lower()
    if role not in ROLES:
        got = f"'Role: {fields['role']}'" if "role" in fields else "no 'Role:' line"
        msg = f"cannot tell which role to play: {got}; expected one of {', '.join(ROLES)}"
        raise PromptError(msg)
    say(f"playing {role} (step {fields.get('step', '?')}) in {workspace}")
    delay = os.environ.get("DEMO_AGENT_SLEEP", "")
    if delay:
        try:
            seconds = float(delay)
        except ValueError:
            msg = f"DEMO_AGENT_SLEEP={delay!r} is not a number of seconds"
            raise PromptError(msg) from None
        say(f"sleeping {seconds:g} s (DEMO_AGENT_SLEEP)")
        time.sleep(seconds)
    if os.environ.get("DEMO_AGENT_FAIL_ROLE", "").lower() == role:
        raise SystemExit(f"demo-agent: failing as {role} on purpose (DEMO_AGENT_FAIL_ROLE)")
    if role == "planner":
        return plan_tasks(fields, workspace)
    task = load_task(task_part or rest)  # no '## Task' heading: look everywhere
    say(f"task: {task.title}")
    if role == "architect":
        return plan_step(task, workspace)
    if role == "reviewer":
        return review_step(task, workspace)
    return change_step(task, workspace, repair=role == "fixer")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: demo_agent.py PROMPT_FILE WORKSPACE OUTPUT_DIR", file=sys.stderr)
        return 2
    prompt_file, workspace, output_dir = (Path(a) for a in argv)
    try:
        prompt = prompt_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"demo-agent: cannot read the prompt file {argv[0]!r}: {exc}", file=sys.stderr)
        return 2
    if not workspace.is_dir():
        print(f"demo-agent: workspace {argv[1]!r} is not a folder", file=sys.stderr)
        return 2
    try:
        handoff = act(prompt, workspace.resolve())
    except PromptError as exc:
        print(f"demo-agent: {exc}", file=sys.stderr)
        return 2
    output_dir.mkdir(parents=True, exist_ok=True)
    text = handoff.render()
    (output_dir / "handoff.md").write_text(text, encoding="utf-8")
    say(f"wrote {output_dir / 'handoff.md'}")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

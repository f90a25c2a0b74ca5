"""Scripted model sessions that take the real Claude Code and the real Codex CLI through one task
on the calc repository of :mod:`support.real_agent`, each with its own tools.

Each role is a list of model turns; the stand-in picks the turn by how many model answers the
conversation already holds (the CLIs resend the whole conversation), and the role by the
``Role:`` line of Orchestra's prompt. The architect reads calc.py and plans; the coder edits
``add``, runs the tests and writes its handoff file; the first review asks for a docstring; the
fixer adds it; the second review (its prompt carries the fixer's handoff) approves.

Claude Code uses ``Read``, ``Edit``, ``Bash`` and ``Write``; Codex uses its shell tool
(``exec_command`` with ``cmd``) for everything.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence

from support.model_api import Exchange, ToolCall, Turn
from support.real_agent import FIX, PLAN, REVIEW_APPROVE, REVIEW_CHANGES, _handoff

ROLES = ("architect", "coder", "reviewer", "fixer")

CODER_HANDOFF = _handoff("Fixed add in calc.py: it now returns a + b. Tests pass.")
CODER_FINAL = "Fixed `add` in calc.py; the tests pass. My report is in handoff.md."
FIXED_MARK = "Added the docstring the review asked for."

ADD_BUG = "def add(a, b):\n    return a - b"
ADD_FIXED = "def add(a, b):\n    return a + b"
ADD_DOCUMENTED = 'def add(a, b):\n    """The sum of a and b."""\n    return a + b'


def _line(text: str, label: str) -> str:
    found = re.search(rf"^{label}: (\S+)", text, re.MULTILINE)
    return found.group(1) if found else "."


def role_of(text: str) -> str:
    return next((r for r in ROLES if f"Role: {r}" in text), "")


class Session:
    """The stand-in's script for one CLI: turns per role, the roles seen recorded in order."""

    def __init__(self, turns: Callable[[str, str, str, bool], Sequence[Turn]]) -> None:
        self._turns = turns
        self._lock = threading.Lock()
        self.roles: list[str] = []

    def __call__(self, exchange: Exchange) -> Turn:
        text = exchange.text
        role = role_of(text)
        if not role:
            return Turn(text="I have nothing to do.", input_tokens=40, output_tokens=8)
        if exchange.model_turns == 0:
            with self._lock:
                self.roles.append(role)
        workspace, output = _line(text, "Workspace"), _line(text, "Output folder")
        turns = self._turns(role, workspace, output, FIXED_MARK in text)
        return turns[min(exchange.model_turns, len(turns) - 1)]


def claude_turns(role: str, ws: str, out: str, fixed: bool) -> Sequence[Turn]:
    read = Turn(tools=(ToolCall("Read", {"file_path": f"{ws}/calc.py"}),))
    tests = ToolCall("Bash", {"command": "python3 -m unittest -q", "description": "Run the tests"})
    if role == "architect":
        return [read, Turn(text=PLAN)]
    if role == "coder":
        edit = {"file_path": f"{ws}/calc.py", "old_string": ADD_BUG, "new_string": ADD_FIXED}
        handoff = {"file_path": f"{out}/handoff.md", "content": CODER_HANDOFF}
        return [
            read,
            Turn(text="Fixing add.", tools=(ToolCall("Edit", edit),)),
            Turn(tools=(tests,)),
            Turn(tools=(ToolCall("Write", handoff),)),
            Turn(text=CODER_FINAL),
        ]
    if role == "fixer":
        edit = {"file_path": f"{ws}/calc.py", "old_string": ADD_FIXED, "new_string": ADD_DOCUMENTED}
        return [read, Turn(tools=(ToolCall("Edit", edit),)), Turn(text=FIX)]
    return [Turn(tools=(tests,)), Turn(text=REVIEW_APPROVE if fixed else REVIEW_CHANGES)]


def _replace(old: str, new: str) -> str:
    """A shell command that replaces ``old`` by ``new`` in calc.py, once."""
    return (
        "python3 - <<'EOF'\nimport pathlib\np = pathlib.Path('calc.py')\n"
        f"p.write_text(p.read_text().replace({old!r}, {new!r}, 1))\nEOF"
    )


def codex_turns(role: str, ws: str, out: str, fixed: bool) -> Sequence[Turn]:
    del ws  # codex runs its commands in the workspace (-C)

    def shell(cmd: str, text: str = "") -> Turn:
        return Turn(text=text, tools=(ToolCall("exec_command", {"cmd": cmd}),))

    if role == "architect":
        return [shell("cat calc.py"), Turn(text=PLAN)]
    if role == "coder":
        handoff = f"cat > {out}/handoff.md <<'EOF'\n{CODER_HANDOFF}EOF"
        return [
            shell(_replace(ADD_BUG, ADD_FIXED), "Fixing add."),
            shell("python3 -m unittest -q"),
            shell(handoff),
            Turn(text=CODER_FINAL),
        ]
    if role == "fixer":
        return [shell(_replace(ADD_FIXED, ADD_DOCUMENTED)), Turn(text=FIX)]
    return [shell("git diff"), Turn(text=REVIEW_APPROVE if fixed else REVIEW_CHANGES)]


def claude_session() -> Session:
    return Session(claude_turns)


def codex_session() -> Session:
    return Session(codex_turns)

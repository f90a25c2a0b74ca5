"""Any command as an agent: the profile's `command:` list with ``{placeholders}`` filled in; it
succeeds iff it exits 0, and its text is stdout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestra.agents.base import (
    Adapter,
    AgentOutcome,
    Invocation,
    InvocationRequest,
    classify,
    failed,
    last_line,
)
from orchestra.errors import ConfigError

_PLACEHOLDERS = ("prompt_file", "workspace", "output_dir", "model", "state_dir")


def command_argv(command: Sequence[str] | None) -> list[str]:
    """The profile's command as a list; a missing or one-string command is a config error."""
    if isinstance(command, str):
        msg = f"command {command!r} must be a list of arguments, not one string"
        raise ConfigError(msg)
    items = [str(item) for item in command or ()]
    if not items or not items[0].strip():
        msg = (
            "the `command` agent needs a non-empty `command:` list on the worker profile, "
            "e.g. ['my-agent', '--prompt', '{prompt_file}']"
        )
        raise ConfigError(msg)
    return items


def _substitute(item: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` placeholders; other braces (JSON, shell) are left alone."""
    for name in _PLACEHOLDERS:
        item = item.replace("{" + name + "}", values[name])
    return item


def parse_command(
    exit_code: int | None, stdout: str, stderr: str, output_dir: Path | None
) -> AgentOutcome:
    """Any command: ok iff it exits 0; its text is stdout. A failure's kind is read from its last
    line with the signals every adapter uses (a wrapper printing "401 Unauthorized" failed for
    the account's sake, not the task's)."""
    del output_dir
    if exit_code == 0:
        return AgentOutcome(True, stdout.strip(), None, "")
    detail = last_line(stderr) or last_line(stdout)
    kind = classify(detail) if detail else "error"
    return failed("command", kind, f"exit code {exit_code}" + (f": {detail}" if detail else ""))


def invocation(req: InvocationRequest) -> Invocation:
    """The profile's command, placeholders filled in, the prompt on stdin."""
    values = {
        "prompt_file": req.prompt_file,
        "workspace": req.workspace,
        "output_dir": req.output_dir,
        "model": req.model or "",
        "state_dir": req.state_dir,
    }
    argv = [_substitute(item, values) for item in command_argv(req.command)]
    return Invocation([*argv, *req.extra_args], {}, req.prompt_file)


def executable(command: Sequence[str] | None) -> str:
    """The program a preflight should find: the command's first item."""
    return command_argv(command)[0]


ADAPTER = Adapter("command", invocation, parse_command, executable=executable)

"""Between a task's steps: the next step starts from what would be committed, nothing more.

The work tree persists across a task's steps (the reviewer reads what the coder wrote). What
a step leaves *outside* the committable content must not reach the next one: agent-CLI
settings with hooks, plugins, MCP servers or env files (``.claude/settings.json``,
``.opencode/``, ``.aider.conf.yml``, ``.env``...) run code in the next step, with its keys and
network, or on the host under the process runtime. So before every step after the first, and
before the result is committed:

1. the work tree is staged in the host's index (``add --all``: the user's ignores, the CLIs'
   litter excluded);
2. every agent-CLI configuration path (:data:`CLI_CONFIG`) the steps changed is put back as the
   task's branch has it (the user's own, or none);
3. everything not in the index is deleted (``clean -ffdx``: ignored files and folders too).

All git calls go through the host git dir (taskgit.py); the agent's ``.git`` is never read.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from orchestra.paths import remove_tree
from orchestra.workspace.clone import TaskWorkspace

#: Names (any path component, gitignore-style globs) of the agents' project settings: Claude
#: Code's folder, local memory and MCP servers; OpenCode's folder and config; Codex's folder;
#: aider's config, model settings and ignore file; the `.env` aider loads.
CLI_CONFIG: tuple[str, ...] = (
    ".claude",
    "CLAUDE.local.md",
    ".mcp.json",
    ".opencode",
    "opencode.json",
    "opencode.jsonc",
    ".codex",
    ".aider*",
    ".env",
)


def is_cli_config(path: str) -> bool:
    """Whether ``path`` (relative, ``/``-separated) is or lies in an agent CLI's settings."""
    return any(fnmatch.fnmatchcase(part, pat) for part in path.split("/") for pat in CLI_CONFIG)


def settle_work_tree(ws: TaskWorkspace, keep: Sequence[str] = ()) -> list[str]:
    """Make the work tree its committable content, with CLI settings as the branch has them;
    return the settings paths that were put back (for the report). ``keep``: gitignore
    patterns of untracked paths that stay (what the task's set-up wrote)."""
    ws.git("add", "--all")
    changed = ws.git("diff-index", "--cached", "--no-renames", "--name-only", "-z", "HEAD")
    restored = [p for p in changed.split("\0") if p and is_cli_config(p)]
    in_head: set[str] = set()
    if restored:
        known = ws.git(
            "--literal-pathspecs", "ls-tree", "-r", "--name-only", "-z", "HEAD", "--", *restored
        )
        in_head = {p for p in known.split("\0") if p}
        # Literal pathspecs: a name the agent chose may hold `*` or `:(...)` magic.
        if gone := [p for p in restored if p not in in_head]:
            ws.git("--literal-pathspecs", "rm", "-q", "--cached", "--", *gone)
        if back := [p for p in restored if p in in_head]:
            ws.git("--literal-pathspecs", "checkout", "HEAD", "--", *back)
    # -x: ignored files too; -ff: nested repositories as well. `.git` entries are never listed.
    ws.git("clean", "-ffdxq", *(arg for pattern in keep for arg in ("-e", pattern)))
    for path in restored:  # a folder clean kept because the index names nothing in it
        if path not in in_head:
            remove_tree(ws.path / path)
    return restored

"""Paths a task's result may not touch unless its task says so: Orchestra's own settings.

A result branch is merged by the user (`git merge orchestra/<id>`), and git overwrites
*ignored* files on a merge without a word. A result that carries ``orchestra.local.yaml`` or
``.orchestra/...`` (with a ``.gitignore`` that un-ignores them) would silently replace the
user's local settings (switch workers to ``runtime: process``, plant task files); one that
changes ``orchestra.yaml`` changes what every later cycle runs. Such a result is refused with
the reason, unless the task file's front matter says ``may_touch_orchestra_config: true`` (a
key only a user's task may carry: the planner's are refused, engine/planner.py).
"""

from __future__ import annotations

import fnmatch

from orchestra.errors import ProjectError
from orchestra.workspace.clone import TaskWorkspace

#: The front-matter key that lets one task change Orchestra's settings.
ALLOW_KEY = "may_touch_orchestra_config"
#: File names (at any depth) and folder names a result may not add, change or delete.
PROTECTED_FILES = ("orchestra.yaml", "orchestra.local.yaml")
PROTECTED_DIRS = (".orchestra",)


def _protected_path(path: str) -> bool:
    parts = path.split("/")
    return parts[-1] in PROTECTED_FILES or any(p in PROTECTED_DIRS for p in parts[:-1])


def _protected_rule(line: str) -> bool:
    """An ignore rule that names Orchestra's files, or un-ignores a name they match."""
    rule = line.strip()
    if not rule or rule.startswith("#"):
        return False
    if "orchestra" in rule.casefold():
        return True
    if not rule.startswith("!"):
        return False
    pattern = rule[1:].strip("/").rsplit("/", 1)[-1] or "*"
    return any(fnmatch.fnmatchcase(name, pattern) for name in PROTECTED_FILES + PROTECTED_DIRS)


def _lines(ws: TaskWorkspace, rev: str, path: str) -> set[str]:
    try:
        return set(ws.git("cat-file", "blob", f"{rev}:{path}").splitlines())
    except ProjectError:  # not there in that commit (added or deleted)
        return set()


def protected_changes(ws: TaskWorkspace, commit: str) -> list[str]:
    """What ``commit`` changes of Orchestra's settings since the task's base: protected paths,
    and ``.gitignore`` lines (added or removed) that name them or un-ignore them."""
    names = ws.git("diff-tree", "-r", "--no-renames", "--name-only", "-z", ws.base_commit, commit)
    changed = [n for n in names.split("\0") if n]
    found = [f"{n!r}" for n in changed if _protected_path(n)]
    for name in (n for n in changed if n.split("/")[-1] == ".gitignore"):
        # Blobs, not a diff: attributes in the result (`.gitignore binary`) cannot hide lines.
        before, after = _lines(ws, ws.base_commit, name), _lines(ws, commit, name)
        found += [
            f"the .gitignore rule {r.strip()!r}"
            for r in sorted(before ^ after)
            if _protected_rule(r)
        ]
    return found


def refusal(found: list[str]) -> str:
    """The task's failure reason for a result that touches Orchestra's settings."""
    shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    return (
        f"result refused: it touches Orchestra's own settings ({shown}); a merge would change "
        f"them for every later cycle. If the task really must, add `{ALLOW_KEY}: true` to its "
        "front matter"
    )

"""Task files: which files in a folder are tasks, in what order, and what they say.

Only regular files named ``task-<digits>.md`` are tasks; they run in numeric order.

A task file is markdown with the sections Goal, Before, After, Acceptance criteria, Files to
touch and Test plan (Goal and Acceptance criteria are required), written either as markdown
headings of any level (``## Goal``) or as ``Heading:`` lines (``GOAL: make it fast``), matched
case-insensitively. Optional YAML front matter between ``---`` lines at the top carries
``title``, ``verify`` (a command that must pass), ``attempts``, ``model`` and
``may_touch_orchestra_config``; other keys are kept but ignored. Headings inside fenced code blocks are not headings.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orchestra.errors import PathEscapeError, QueueError, TaskFileError

#: Default cap on the size of one task file, in characters.
MAX_TASK_CHARS = 12_000


#: Names of the known sections, lower-case, in the order a task file usually has them.
SECTION_NAMES = ("goal", "before", "after", "acceptance criteria", "files to touch", "test plan")


#: Sections a task file must have, with some text in them.
REQUIRED_SECTIONS = ("goal", "acceptance criteria")


#: What a task file in a queue folder is called; group 1 is the number.
TASK_NAME_RE = re.compile(r"^task-(\d+)\.md$", re.ASCII)


_TASK_IN_LIST_RE = re.compile(r"\0task-(\d+)\.md(?=\0)", re.ASCII)  # in NUL-joined names


_FRONT_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M)


_MD_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")


_COLON_HEADING_RE = re.compile(r"^[ \t]*([A-Za-z][A-Za-z \t]*?)[ \t]*:[ \t]*(.*)$")


_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


_STR_KEYS = ("title", "verify", "model")
#: ``may_touch_orchestra_config``: the task's result may change Orchestra's own settings
#: (workspace/protected.py); only a user's task may say so, never the planner's.
_BOOL_KEYS = ("may_touch_orchestra_config",)


_COLON_LEVEL = 6  # a ``Heading:`` section ends at any markdown heading


def check_name(name: str) -> str:
    """Return ``name``; :class:`PathEscapeError` when it could point into another folder."""
    seps = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    if not name or name in {".", ".."} or "\0" in name or any(s in name for s in seps):
        msg = f"task name {name!r} must be a plain file name without path separators"
        raise PathEscapeError(msg)
    return name


def scan_folder(folder: Path) -> list[str]:
    """Names of the regular files (not symlinks, not folders) in ``folder``; [] if it is missing.

    An unreadable folder (or a path that is not a folder) raises :class:`QueueError`.
    """
    try:
        with os.scandir(folder) as entries:
            return [e.name for e in entries if e.is_file(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    except OSError as exc:
        msg = (
            f"cannot read the queue folder {str(folder)!r} ({exc.strerror or exc}); make it a "
            "folder this user can read, or point the setting somewhere else"
        )
        raise QueueError(msg) from exc


def discover_names(queue_dir: Path) -> list[str]:
    """Names of the task files in ``queue_dir`` in run order (see :func:`discover`)."""
    # One regex pass over all names joined by NUL (which no file name can hold) is several
    # times faster than matching name by name.
    digits = _TASK_IN_LIST_RE.findall("\0" + "\0".join(scan_folder(queue_dir)) + "\0")
    # Two C-level sorts instead of a Python key function: by digit string first, then a
    # stable sort by number. Equal numbers keep the first order, which is the order of the
    # names ("01" < "1" exactly when "task-01.md" < "task-1.md").
    digits.sort()
    digits.sort(key=int)
    return [f"task-{d}.md" for d in digits]


def discover(queue_dir: Path) -> list[Path]:
    """Regular files named ``task-<digits>.md`` in ``queue_dir``, in numeric order.

    Ties (``task-01.md`` and ``task-1.md``) are ordered by name. A missing folder is an empty
    queue; an unreadable one raises :class:`QueueError`. Symlinks and folders are ignored.
    """
    return list(map(queue_dir.joinpath, discover_names(queue_dir)))


@dataclass(frozen=True)
class TaskFile:
    """One parsed task file. ``sections`` maps lower-case heading names to their text."""

    task_id: str
    path: Path
    title: str
    text: str = field(repr=False)
    body: str = field(repr=False)
    front: dict[str, object]
    attempts: int
    verify: str | None
    model: str | None
    sections: dict[str, str] = field(repr=False)


def split_front_matter(text: str) -> tuple[dict[str, object], str]:
    """Split ``text`` into (front matter mapping, body); the body is kept character for character.

    Text without front matter gives ``({}, text)``. Invalid YAML, a front matter that is not a
    mapping, or a known key of the wrong type raises :class:`TaskFileError`.
    """
    if not text.startswith("---"):
        return {}, text
    match = _FRONT_RE.match(text)
    if match is None:
        msg = "front matter starts with '---' but has no closing '---' line; add one"
        raise TaskFileError(msg)
    try:
        loaded = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        msg = f"front matter is not valid YAML ({exc}); fix the lines between the '---' markers"
        raise TaskFileError(msg) from exc
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        msg = f"front matter must be a mapping of names to values, got {loaded!r}"
        raise TaskFileError(msg)
    front: dict[str, object] = dict(loaded)
    _check_front(front)
    return front, text[match.end() :]


def _check_front(front: dict[str, object]) -> None:
    for key in _STR_KEYS:
        value = front.get(key)
        if value is not None and not isinstance(value, str):
            msg = f"front matter {key!r} must be a string, got {value!r}; quote it"
            raise TaskFileError(msg)
    for key in _BOOL_KEYS:
        value = front.get(key)
        if value is not None and not isinstance(value, bool):
            msg = f"front matter {key!r} must be true or false, got {value!r}"
            raise TaskFileError(msg)
    attempts = front.get("attempts", 0)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        msg = f"front matter 'attempts' must be a whole number >= 0, got {attempts!r}"
        raise TaskFileError(msg)


def with_attempts(text: str, attempts: int) -> str:
    """Return ``text`` with front matter ``attempts`` set; the body is kept character for character.

    The front matter is re-serialised (comments in it are not kept); a file without front
    matter gets one.
    """
    front, body = split_front_matter(text)
    front["attempts"] = attempts
    dumped = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{dumped}---\n{body}"


def find_sections(body: str) -> dict[str, str]:
    """Map lower-case heading names to the text under them (stripped).

    Markdown headings of any level start a section, except an unknown heading nested deeper
    than the known section it is in (``### Edge cases`` under ``## Acceptance criteria`` stays
    part of it). ``Name:`` lines start a section only for the known names. A repeated heading
    appends to the earlier section.
    """
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    level = 0
    fence: str | None = None
    for line in body.splitlines():
        fence_match = _FENCE_RE.match(line)
        if fence_match is not None:
            marker = fence_match.group(1)
            if fence is None:
                fence = marker[0] * 3
            elif marker.startswith(fence):
                fence = None
        elif fence is None:
            heading = _heading(line, level if current is not None else 0)
            if heading is not None:
                name, level, first = heading
                current = sections.setdefault(name, [])
                if first:
                    current.append(first)
                continue
        if current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


def _heading(line: str, current_level: int) -> tuple[str, int, str] | None:
    """(name, level, text on the same line) when ``line`` starts a section, else None."""
    md = _MD_HEADING_RE.match(line)
    if md is not None:
        name = _normalise(md.group(2))
        level = len(md.group(1))
        if not name:
            return None
        if name not in SECTION_NAMES and current_level and level > current_level:
            return None
        return name, level, ""
    colon = _COLON_HEADING_RE.match(line)
    if colon is not None and _normalise(colon.group(1)) in SECTION_NAMES:
        return _normalise(colon.group(1)), _COLON_LEVEL, colon.group(2).strip()
    return None


def _normalise(heading: str) -> str:
    return " ".join(heading.strip().strip("*_:").strip().lower().split())


def _check_sections(sections: dict[str, str]) -> None:
    for name in REQUIRED_SECTIONS:
        if name not in sections:
            msg = f"missing required section {name.capitalize()!r}; add a '## {name.capitalize()}'"
            raise TaskFileError(msg + " heading")
        if not sections[name]:
            msg = f"section {name.capitalize()!r} is empty; write what it asks for"
            raise TaskFileError(msg)


def parse_task_text(
    text: str, *, task_id: str, path: Path, max_chars: int = MAX_TASK_CHARS
) -> TaskFile:
    """Parse the text of a task file; :class:`TaskFileError` with the reason when it is unusable."""
    if len(text) > max_chars:
        msg = (
            f"task file has {len(text)} characters, over the limit of {max_chars}; "
            "split it into smaller tasks"
        )
        raise TaskFileError(msg)
    front, body = split_front_matter(text)
    sections = find_sections(body)
    _check_sections(sections)
    title = front.get("title")
    if not isinstance(title, str) or not title.strip():
        title = _fallback_title(body, sections)
    attempts = front.get("attempts", 0)
    verify, model = front.get("verify"), front.get("model")
    return TaskFile(
        task_id=task_id,
        path=path,
        title=title.strip(),
        text=text,
        body=body,
        front=front,
        attempts=attempts if isinstance(attempts, int) else 0,
        verify=verify if isinstance(verify, str) and verify.strip() else None,
        model=model if isinstance(model, str) and model.strip() else None,
        sections=sections,
    )


def _fallback_title(body: str, sections: dict[str, str]) -> str:
    """The first heading that is not a known section, else the first line of the Goal."""
    for name in sections:
        if name not in SECTION_NAMES:
            for line in body.splitlines():
                md = _MD_HEADING_RE.match(line)
                if md is not None and _normalise(md.group(2)) == name:
                    return md.group(2).strip()
    return sections["goal"].splitlines()[0][:80]


def parse_task(path: Path, *, max_chars: int = MAX_TASK_CHARS) -> TaskFile:
    """Read and parse one task file named ``task-<digits>.md``.

    Raises :class:`TaskFileError` (with the reason) when the name, size, encoding, front matter
    or sections are wrong; an :class:`OSError` when it cannot be read.
    """
    match = TASK_NAME_RE.fullmatch(path.name)
    if match is None:
        msg = f"task file name {path.name!r} does not match 'task-<digits>.md'; rename it"
        raise TaskFileError(msg)
    size = path.stat().st_size
    if size > max_chars * 4:  # UTF-8 uses at most 4 bytes per character: surely oversize
        msg = f"task file has {size} bytes, over the limit of {max_chars} characters; split it"
        raise TaskFileError(msg)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"task file is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        raise TaskFileError(msg) from exc
    return parse_task_text(text, task_id=path.name[: -len(".md")], path=path, max_chars=max_chars)


def validate_task_text(text: str, *, max_chars: int = MAX_TASK_CHARS) -> str | None:
    """The reason ``text`` is not a usable task file, or None when it is (for staged files)."""
    try:
        parse_task_text(text, task_id="task-0", path=Path("task-0.md"), max_chars=max_chars)
    except TaskFileError as exc:
        return str(exc)
    return None


__all__ = [
    "MAX_TASK_CHARS",
    "REQUIRED_SECTIONS",
    "SECTION_NAMES",
    "TASK_NAME_RE",
    "TaskFile",
    "check_name",
    "discover",
    "discover_names",
    "find_sections",
    "parse_task",
    "parse_task_text",
    "scan_folder",
    "split_front_matter",
    "validate_task_text",
    "with_attempts",
]

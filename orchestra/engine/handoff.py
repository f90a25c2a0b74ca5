"""Agent handoffs: read the report an agent ends with, and carry it to the steps after it.

An agent ends its work with a short report in five sections (Summary, Actions, Artifacts,
Risks, Next); a reviewer also ends with a ``Verdict:`` line. :func:`parse_handoff` reads the
report leniently: markdown headings of any level, ``Heading:`` lines, any case, bold
tolerated. Headings inside fenced code blocks are ignored, and a report wrapped whole in one
markdown fence is unwrapped first. :func:`build_carry` turns the handoffs of earlier steps into
the bounded, deterministic text the next step receives; :func:`fingerprint` helps spot an agent
that repeats itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from orchestra.errors import ConfigError

Verdict = Literal["APPROVE", "CHANGES_REQUESTED"]


#: The handoff schema, in the order agents are asked to write it.
SECTIONS: tuple[str, ...] = ("summary", "actions", "artifacts", "risks", "next")


#: The sections the next step receives (Actions is the step's own log and is dropped).
CARRIED_SECTIONS: tuple[str, ...] = ("summary", "artifacts", "risks", "next")


#: Per-section character caps in a carried block; the truncation marker counts within them.
CARRY_CAPS: Mapping[str, int] = MappingProxyType(
    {"summary": 900, "artifacts": 1600, "risks": 900, "next": 900}
)


DEFAULT_MAX_CARRY_CHARS = 24_000


TRUNCATION_MARKER = "… [truncated]"


_BLOCK_SEPARATOR = "\n\n"


_NAMES = "|".join(SECTIONS)


# The patterns below are matched against one stripped line each and are written so that no
# two quantifiers compete for the same characters: matching time stays linear in the line.
# `Summary: text`, `**Summary:** text`, `__Summary__: text` (the colon is required).
_LABEL = re.compile(
    rf"(?P<open>\*\*|__)?[ \t]*(?P<name>{_NAMES})[ \t]*(?:(?P=open)[ \t]*)?:(?P<rest>.*)",
    re.IGNORECASE,
)


# A bare section name, optionally with a colon, bold when it is not a `#` heading.
_BARE = re.compile(
    rf"(?P<open>\*\*|__)?[ \t]*(?P<name>{_NAMES})[ \t]*(?::[ \t]*)?(?(open)(?P=open)(?:[ \t]*:)?)",
    re.IGNORECASE,
)


_MD_HEADING = re.compile(r" {0,3}#{1,6}(?:[ \t](?P<title>.*))?")


_FENCE = re.compile(r" {0,3}(?P<fence>`{3,}|~{3,})")


_WRAPPER_FENCE = re.compile(r"(?P<fence>`{3,}|~{3,})[ \t]*(?:markdown|md|text|txt)?", re.IGNORECASE)


_VERDICT = re.compile(
    r"verdict[*_`]*[ \t]*:[ \t]*(?:[*_`]+[ \t]*)?"
    r"(?P<value>approve|changes[ _-]requested)[*_`]*(?:[.!][*_`]*)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Handoff:
    """One agent's handoff report, section by section (each stripped of outer whitespace)."""

    summary: str = ""
    actions: str = ""
    artifacts: str = ""
    risks: str = ""
    next: str = ""
    verdict: Verdict | None = None

    def is_empty(self) -> bool:
        """True when no section has text and there is no verdict."""
        return self.verdict is None and not any(t.strip() for t in _texts(self).values())


def _texts(handoff: Handoff) -> dict[str, str]:
    return {name: str(getattr(handoff, name)) for name in SECTIONS}


def _heading(line: str) -> tuple[str, str] | None:
    """Return (section, text on the same line) when ``line`` opens a known section."""
    md = _MD_HEADING.fullmatch(line)
    candidate = _md_title(md.group("title") or "") if md else line.strip()
    bare = _BARE.fullmatch(candidate)
    if bare and (md or bare.group("open")):
        return bare.group("name").casefold(), ""
    label = _LABEL.match(candidate)
    if label is None:
        return None
    rest = label.group("rest").strip()
    opener = label.group("open")
    if opener and rest.startswith(opener):  # `**Summary:** text`: drop the closing `**`
        rest = rest[len(opener) :].strip()
    return label.group("name").casefold(), rest


def _md_title(title: str) -> str:
    """A `#` heading's title without its optional closing `#` sequence."""
    title = title.strip()
    bare = title.rstrip("#")
    return bare.rstrip() if not bare or bare[-1] in " \t" else title


def _unwrap(body: str) -> str:
    """The inside of ``body`` if it is one markdown fence as a whole, else ``body``."""
    first, _, rest = body.strip().partition("\n")
    inside, _, last = rest.rpartition("\n")
    opening = _WRAPPER_FENCE.fullmatch(first.strip())
    return inside if opening and last.strip() == opening.group("fence") else body


def _fence_after(fence: str, line: str) -> str:
    """The open fence after ``line`` ("" when outside fenced code)."""
    found = _FENCE.match(line)
    if not fence:
        return found.group("fence") if found else ""
    closes = (
        found is not None
        and found.group("fence")[0] == fence[0]
        and len(found.group("fence")) >= len(fence)
        and not line.strip().strip(fence[0])
    )
    return "" if closes else fence


def parse_handoff(text: str) -> Handoff:
    """Parse an agent's handoff report; without any known heading the whole text is Summary.

    Text before the first known heading is ignored. Unknown headings stay part of the section
    they appear in; a section that appears twice keeps both parts, blank-line separated.
    """
    body = _unwrap(text.replace("\r\n", "\n").replace("\r", "\n"))
    parts: dict[str, list[list[str]]] = {}  # section -> one list of lines per occurrence
    current: list[str] | None = None
    fence = ""
    for line in body.split("\n"):
        found = None if fence else _heading(line)
        if found is not None:
            name, rest = found
            current = [rest]
            parts.setdefault(name, []).append(current)
            continue
        fence = _fence_after(fence, line)
        if current is not None:
            current.append(line)
    verdict = parse_verdict(text)
    if not parts:
        return Handoff(summary=body.strip(), verdict=verdict)
    sections = {
        name: "\n\n".join(t for t in ("\n".join(c).strip() for c in chunks) if t)
        for name, chunks in parts.items()
    }
    return Handoff(
        summary=sections.get("summary", ""),
        actions=sections.get("actions", ""),
        artifacts=sections.get("artifacts", ""),
        risks=sections.get("risks", ""),
        next=sections.get("next", ""),
        verdict=verdict,
    )


def parse_verdict(text: str) -> Verdict | None:
    """Return the verdict of the last ``Verdict:`` line in ``text``, or None if there is none."""
    for line in reversed(text.splitlines()):
        found = _VERDICT.fullmatch(line.strip().lstrip("#>-*_` \t"))
        if found:
            return (
                "APPROVE" if found.group("value").casefold() == "approve" else "CHANGES_REQUESTED"
            )
    return None


def _truncate(text: str, cap: int) -> str:
    """Cut ``text`` to at most ``cap`` characters, ending with the marker when it fits."""
    if len(text) <= cap:
        return text
    if cap <= len(TRUNCATION_MARKER):
        return text[:cap]
    return text[: cap - len(TRUNCATION_MARKER)].rstrip() + TRUNCATION_MARKER


def _check_caps(caps: Mapping[str, int]) -> None:
    for name in CARRIED_SECTIONS:
        cap = caps.get(name)
        if cap is None or cap < 0:
            msg = (
                f"carry cap for section {name!r} is {cap!r}; give every carried section "
                f"{list(CARRIED_SECTIONS)!r} a cap of 0 or more characters"
            )
            raise ConfigError(msg)


def render_block(title: str, handoff: Handoff, caps: Mapping[str, int] = CARRY_CAPS) -> str:
    """Render one earlier step for the carry: a ``### title`` block of the carried sections.

    Actions is dropped, each carried section is cut to its cap, empty sections are omitted.
    The title is collapsed to one line.
    """
    _check_caps(caps)
    heading = " ".join(title.split()) or "(untitled step)"
    parts = [f"### {heading}"]
    texts = _texts(handoff)
    for name in CARRIED_SECTIONS:
        text = _truncate(texts[name].strip(), caps[name])
        if text:
            parts.append(f"#### {name.capitalize()}\n{text}")
    return "\n\n".join(parts)


def build_carry(
    blocks: Sequence[tuple[str, Handoff]],
    *,
    max_chars: int = DEFAULT_MAX_CARRY_CHARS,
    caps: Mapping[str, int] = CARRY_CAPS,
) -> str:
    """Build what the next step receives from the ``(title, handoff)`` of earlier steps.

    Blocks are joined oldest first. While the total exceeds ``max_chars`` the oldest blocks are
    dropped; if the newest block alone still does not fit it is truncated to ``max_chars``.
    """
    if max_chars < 0:
        msg = f"max_chars is {max_chars!r}; use 0 or more characters"
        raise ConfigError(msg)
    rendered = [render_block(title, handoff, caps) for title, handoff in blocks]
    total = sum(len(block) for block in rendered)
    total += len(_BLOCK_SEPARATOR) * max(len(rendered) - 1, 0)
    start = 0
    while total > max_chars and start < len(rendered) - 1:
        total -= len(rendered[start]) + len(_BLOCK_SEPARATOR)
        start += 1
    return _truncate(_BLOCK_SEPARATOR.join(rendered[start:]), max_chars)


def fingerprint(handoff: Handoff) -> str:
    """A sha256 hex digest of the section texts, whitespace-collapsed and case-folded.

    Two handoffs that differ only in whitespace or case share a fingerprint; the verdict is
    not part of it.
    """
    texts = _texts(handoff)
    normalised = "\x1e".join(
        f"{name}\x1f{' '.join(texts[name].split()).casefold()}" for name in SECTIONS
    )
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


__all__ = [
    "CARRIED_SECTIONS",
    "CARRY_CAPS",
    "DEFAULT_MAX_CARRY_CHARS",
    "SECTIONS",
    "TRUNCATION_MARKER",
    "Handoff",
    "Verdict",
    "build_carry",
    "fingerprint",
    "parse_handoff",
    "parse_verdict",
    "render_block",
]

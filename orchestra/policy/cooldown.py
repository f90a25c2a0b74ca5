"""A model API's "try again in N s" becomes a cool-down: later cycles claim nothing until it has
passed, and say so.

The CLIs consume the ``retry-after`` header themselves (their own retries wait for it) and do
not print it; what they do print of a rate limit is the API's message, which often names the
wait ("Please try again in 20s", "retry after 60 seconds"). When a task fails on a rate limit
(an infrastructure failure: no attempt spent) and its reason names a wait, the moment it ends is
kept in ``.orchestra/cooldown.json``; a cycle that starts before then plans and claims nothing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

COOLDOWN_FILE = ".orchestra/cooldown.json"

#: The longest wait believed (a usage limit may name days; the breaker handles those).
MAX_WAIT_SECONDS = 6 * 3600.0

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

_WAIT = re.compile(
    r"(?:try again|retry)(?:\s+(?:in|after))?\s*:?\s*(\d+(?:\.\d+)?)\s*"
    r"(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hours?)\b",
    re.IGNORECASE,
)

#: What a rate-limited step's reason says (agents.base: the ``rate_limited`` kind).
_RATE_LIMITED = "rate limit or quota"


def wait_seconds(text: str) -> float | None:
    """The wait ``text`` names ("try again in 1.5s", "retry after 2 minutes"), in seconds."""
    found = _WAIT.search(text)
    if found is None:
        return None
    unit = found.group(2).lower()
    scale = _UNITS["ms"] if unit.startswith("ms") or unit.startswith("milli") else _UNITS[unit[0]]
    return min(float(found.group(1)) * scale, MAX_WAIT_SECONDS)


class Cooldown:
    """The project's cool-down: noted from a rate-limited task, checked by the next cycle."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = root / COOLDOWN_FILE
        self._clock = clock

    def note(self, outcome: Mapping[str, Any]) -> float | None:
        """Keep the wait a rate-limited task's reason names; return it (None: nothing kept)."""
        reason = str(outcome.get("reason", ""))
        if outcome.get("kind") != "infrastructure" or _RATE_LIMITED not in reason:
            return None
        wait = wait_seconds(reason)
        if not wait:
            return None
        until = max(self._clock() + wait, self._until())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps({"until": until, "reason": reason[:300]}), encoding="utf-8")
        tmp.replace(self.path)
        return wait

    def active(self) -> str:
        """Why no task may be claimed now ('' when the cool-down is over or there is none)."""
        until = self._until()
        left = until - self._clock()
        if left <= 0:
            return ""
        when = datetime.fromtimestamp(until, UTC).strftime("%H:%M:%S UTC")
        reason = str(self._read().get("reason", ""))
        return f"cooling down until {when} ({left:.0f} s left), as the model API asked: {reason}"

    def _until(self) -> float:
        value = self._read().get("until")
        return float(value) if isinstance(value, int | float) else 0.0

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


PROVIDERS_FILE = ".orchestra/providers.json"

#: A provider's cool-down when its failure named no wait.
DEFAULT_PROVIDER_WAIT = 60.0


class ProviderCooldowns:
    """Cool-downs of single providers (a CLI and its model API), from failed steps whose
    profile had a fallback: the next steps skip the provider until it passed."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = root / PROVIDERS_FILE
        self._clock = clock

    def note(self, provider: str, reason: str) -> float:
        """Cool ``provider`` down for the wait ``reason`` names (else a minute); the wait."""
        wait = wait_seconds(reason) or DEFAULT_PROVIDER_WAIT
        data = self._read()
        until = max(self._clock() + wait, float(data.get(provider, {}).get("until", 0.0)))
        data[provider] = {"until": until, "reason": reason[:300]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{id(self)}.tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(self.path)
        return wait

    def active(self, provider: str) -> str:
        """Why ``provider`` is cooling down ('' when it is not)."""
        entry = self._read().get(provider, {})
        left = float(entry.get("until", 0.0)) - self._clock()
        if left <= 0:
            return ""
        return f"{provider} cooling down for {left:.0f} s more: {entry.get('reason', '')}"

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, dict)}

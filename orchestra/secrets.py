"""Secret values that must never appear in logs, handoffs, records or reports: registered once, redacted everywhere."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


#: Secret values shorter than this are not redacted: they would mangle ordinary words.
MIN_SECRET_LEN = 6


REDACTED = "***"


_secrets: set[str] = set()


_secrets_lock = threading.Lock()


def register_secrets(values: Iterable[str]) -> None:
    """Remember values that must never appear in any log line."""
    with _secrets_lock:
        _secrets.update(v for v in values if v and len(v) >= MIN_SECRET_LEN)


def redact(text: str) -> str:
    """Replace every registered secret value in ``text``."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for value in secrets:
        if value in text:
            text = text.replace(value, REDACTED)
    return text

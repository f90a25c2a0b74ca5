"""Time helpers shared by the queue, the logs and memory: the UTC clock and the two text forms of a moment."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    """``2026-01-06T12:34:56.789Z``: ISO-8601, UTC, millisecond precision."""
    return _utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def file_stamp(moment: datetime) -> str:
    """``2026-01-06T12-34-56-789Z``: :func:`iso_utc` with ':' and '.' replaced by '-'."""
    return iso_utc(moment).replace(":", "-").replace(".", "-")

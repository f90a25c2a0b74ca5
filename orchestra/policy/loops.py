"""Loop detection: a task ends when a step repeats itself across iterations of the workflow.

A loop means the same step id produced the same handoff as its own previous run (a fixer
rewriting the same fix), or a reviewer gave the same verdict with the same text again (the same
CHANGES_REQUESTED review in round after round). Different steps that happen to report the same
terse text are not a loop, and neither are empty handoffs: those say nothing about progress.
Pure: the engine feeds each step's id, handoff fingerprint and verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LoopDetector:
    """Remembers each step id's last handoff fingerprint; :meth:`check` says when one repeats."""

    _last: dict[str, str] = field(default_factory=dict)

    def check(self, step_id: str, fingerprint: str, verdict: str | None = None) -> str | None:
        """Record this step's outcome; return why it is a loop, or None."""
        if not fingerprint:
            return None
        previous = self._last.get(step_id)
        self._last[step_id] = fingerprint
        if previous != fingerprint:
            return None
        if verdict:
            return (
                f"{step_id} gave the same {verdict} review as in its previous round, word for word"
            )
        return f"{step_id} repeated its previous handoff word for word"

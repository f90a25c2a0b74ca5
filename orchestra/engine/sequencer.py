"""Which step runs next in the boomerang workflow (pure logic, no Prefect).

Steps run in order. A step with ``when: changes_requested`` runs only when the latest review
asked for changes; after it ran, the workflow goes back to that review. Everything is bounded
by ``max_steps``. A reviewer must give a verdict (:func:`missing_verdict`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from orchestra.config.models import StepConfig
from orchestra.engine.handoff import Verdict


def missing_verdict(step_id: str, worker: str, role: str | None, verdict: Verdict | None) -> str:
    """Why a step that ran fine still fails its task: a reviewer without a verdict ('' when
    none). The engine ends the task on it, and the step's Prefect task run shows it Failed."""
    if role == "reviewer" and verdict is None:
        return (
            f"{step_id} ({worker}) gave no verdict"
            " (expected `Verdict: APPROVE` or `Verdict: CHANGES_REQUESTED`)"
        )
    return ""


@dataclass
class StepSequencer:
    """Hands out the next step until the workflow is done or out of budget."""

    steps: Sequence[StepConfig]
    roles: Mapping[str, str]
    max_steps: int
    ran: list[tuple[str, Verdict | None]] = field(default_factory=list)
    _index: int = 0
    _last_review: int | None = None
    last_verdict: Verdict | None = None

    def _is_review(self, step: StepConfig) -> bool:
        return self.roles.get(step.worker) == "reviewer"

    def next(self) -> StepConfig | None:
        """The next step to run, or None when the workflow is finished or out of budget."""
        if len(self.ran) >= self.max_steps:
            return None
        while self._index < len(self.steps):
            step = self.steps[self._index]
            if step.when == "always" or self.last_verdict == "CHANGES_REQUESTED":
                return step
            self._index += 1
        return None

    def record(self, step: StepConfig, verdict: Verdict | None) -> None:
        """Note that ``step`` ran and what its reviewer said."""
        self.ran.append((step.id, verdict))
        if self._is_review(step):
            self._last_review = self._index
            self.last_verdict = verdict
        if step.when == "changes_requested" and self._last_review is not None:
            self._index = self._last_review
            return
        self._index += 1

    @property
    def exhausted(self) -> bool:
        """True when max_steps stopped the workflow before it finished."""
        return len(self.ran) >= self.max_steps and self.next_index_pending()

    def next_index_pending(self) -> bool:
        """Whether a step would still run if the budget allowed it."""
        for step in self.steps[self._index :]:
            if step.when == "always" or self.last_verdict == "CHANGES_REQUESTED":
                return True
        return False

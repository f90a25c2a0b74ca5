"""Which step runs next: the boomerang sequencer driven verdict by verdict, without a cycle."""

from __future__ import annotations

from orchestra.config.models import StepConfig
from orchestra.engine.handoff import Verdict
from orchestra.engine.sequencer import StepSequencer

STEPS = [
    StepConfig(id="plan", worker="architect"),
    StepConfig(id="implement", worker="coder"),
    StepConfig(id="review", worker="reviewer"),
    StepConfig(id="fix", worker="fixer", when="changes_requested"),
]
ROLES = {"architect": "architect", "coder": "coder", "reviewer": "reviewer", "fixer": "fixer"}


def _drive(seq: StepSequencer, verdicts: dict[int, Verdict]) -> list[str]:
    """Run the sequencer to the end; the n-th review (1-based) answers ``verdicts[n]``."""
    order: list[str] = []
    reviews = 0
    while (step := seq.next()) is not None:
        order.append(step.id)
        verdict = None
        if step.worker == "reviewer":
            reviews += 1
            verdict = verdicts.get(reviews, "APPROVE")
        seq.record(step, verdict)
    return order


class TestStepSequencer:
    def test_approve_skips_the_fixer(self) -> None:
        seq = StepSequencer(STEPS, ROLES, max_steps=10)
        assert _drive(seq, {1: "APPROVE"}) == ["plan", "implement", "review"]
        assert seq.last_verdict == "APPROVE"
        assert not seq.exhausted

    def test_changes_requested_goes_fix_then_review_again(self) -> None:
        seq = StepSequencer(STEPS, ROLES, max_steps=10)
        order = _drive(seq, {1: "CHANGES_REQUESTED", 2: "APPROVE"})
        assert order == ["plan", "implement", "review", "fix", "review"]
        assert seq.ran[-1] == ("review", "APPROVE")

    def test_max_steps_bounds_the_rounds(self) -> None:
        """A reviewer that never approves is stopped by max_steps, and the sequencer says so."""
        seq = StepSequencer(STEPS, ROLES, max_steps=6)
        order = _drive(seq, dict.fromkeys(range(1, 10), "CHANGES_REQUESTED"))
        assert order == ["plan", "implement", "review", "fix", "review", "fix"]
        assert seq.exhausted
        assert seq.last_verdict == "CHANGES_REQUESTED"

    def test_budget_exactly_enough_is_not_exhausted(self) -> None:
        seq = StepSequencer(STEPS, ROLES, max_steps=3)
        assert _drive(seq, {}) == ["plan", "implement", "review"]
        assert not seq.exhausted

    def test_budget_one_short_is_exhausted(self) -> None:
        seq = StepSequencer(STEPS, ROLES, max_steps=2)
        assert _drive(seq, {}) == ["plan", "implement"]
        assert seq.exhausted

    def test_no_review_means_no_fix(self) -> None:
        """A changes_requested step never runs when no review asked for changes."""
        steps = [
            StepConfig(id="implement", worker="coder"),
            StepConfig(id="fix", worker="fixer", when="changes_requested"),
        ]
        seq = StepSequencer(steps, ROLES, max_steps=5)
        assert _drive(seq, {}) == ["implement"]

    def test_steps_after_the_fix_run_once_approved(self) -> None:
        """A step after the fixer (e.g. docs) runs after the approving review."""
        steps = [*STEPS, StepConfig(id="docs", worker="coder")]
        seq = StepSequencer(steps, ROLES, max_steps=10)
        order = _drive(seq, {1: "CHANGES_REQUESTED", 2: "APPROVE"})
        assert order == ["plan", "implement", "review", "fix", "review", "docs"]

    def test_empty_workflow(self) -> None:
        seq = StepSequencer([], ROLES, max_steps=5)
        assert seq.next() is None
        assert not seq.exhausted

"""Loop detection: a loop is one step repeating itself, never two steps that agree."""

from __future__ import annotations

from orchestra.policy.loops import LoopDetector


class TestLoopDetector:
    def test_different_steps_with_the_same_terse_text_are_no_loop(self) -> None:
        """An architect and a coder that both answer "done." do not end the task."""
        loops = LoopDetector()
        assert loops.check("plan", "done") is None
        assert loops.check("implement", "done") is None

    def test_empty_handoffs_are_no_loop(self) -> None:
        """Two empty handoffs in a row say nothing about progress."""
        loops = LoopDetector()
        assert loops.check("implement", "") is None
        assert loops.check("implement", "") is None

    def test_the_same_review_across_rounds_is_a_loop(self) -> None:
        """review → fix → review with the same CHANGES_REQUESTED text is caught at the second review."""
        loops = LoopDetector()
        assert loops.check("review", "fix the bug", "CHANGES_REQUESTED") is None
        assert loops.check("fix", "fixed it") is None
        reason = loops.check("review", "fix the bug", "CHANGES_REQUESTED")
        assert reason is not None
        assert "review" in reason
        assert "CHANGES_REQUESTED" in reason

    def test_a_step_repeating_its_own_handoff_is_a_loop(self) -> None:
        """A fixer that writes the same handoff in two rounds is looping."""
        loops = LoopDetector()
        assert loops.check("fix", "changed x") is None
        assert loops.check("review", "still wrong", "CHANGES_REQUESTED") is None
        assert loops.check("fix", "changed x") is not None

    def test_a_review_that_changes_is_no_loop(self) -> None:
        """A reviewer asking for something new each round is making progress."""
        loops = LoopDetector()
        assert loops.check("review", "a", "CHANGES_REQUESTED") is None
        assert loops.check("review", "b", "CHANGES_REQUESTED") is None

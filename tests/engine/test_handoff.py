"""Tests for orchestra.handoff: parsing handoffs and verdicts, the carry, fingerprints."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any

import pytest

from orchestra.engine import handoff as handoff_module
from orchestra.engine.handoff import (
    CARRIED_SECTIONS,
    CARRY_CAPS,
    DEFAULT_MAX_CARRY_CHARS,
    SECTIONS,
    TRUNCATION_MARKER,
    Handoff,
    build_carry,
    fingerprint,
    parse_handoff,
    parse_verdict,
    render_block,
)
from orchestra.errors import ConfigError, OrchestraError

FULL_REPORT = """\
Some chatter the agent wrote before its report.

# Summary
Added the retry loop.

## Actions
Edited two files, ran the tests.

### Artifacts
- orchestra/retry.py

#### Risks
Backoff is untested on Windows.

##### Next
Review the retry loop.
"""


class TestParseMarkdownHeadings:
    def test_headings_of_any_level_open_sections(self) -> None:
        """Headings from `#` to `#####` each open their section."""
        h = parse_handoff(FULL_REPORT)
        assert h == Handoff(
            summary="Added the retry loop.",
            actions="Edited two files, ran the tests.",
            artifacts="- orchestra/retry.py",
            risks="Backoff is untested on Windows.",
            next="Review the retry loop.",
        )

    def test_text_before_first_heading_is_ignored(self) -> None:
        """Preamble before the first known heading is in no section."""
        h = parse_handoff(FULL_REPORT)
        assert all("chatter" not in getattr(h, name) for name in SECTIONS)

    def test_bold_heading_titles_and_trailing_colon(self) -> None:
        """`## **Summary**` and `### Next:` are section headings."""
        h = parse_handoff("## **Summary**\nfine\n### Next:\nship it")
        assert (h.summary, h.next) == ("fine", "ship it")

    def test_heading_with_text_on_same_line(self) -> None:
        """`## Summary: text` keeps the text after the colon."""
        assert parse_handoff("## Summary: all good\nmore").summary == "all good\nmore"

    def test_unknown_heading_stays_in_section(self) -> None:
        """An unknown heading and its text remain part of the enclosing section."""
        h = parse_handoff("# Summary\nintro\n### Details\nthe details\n# Next\nx")
        assert h.summary == "intro\n### Details\nthe details"
        assert h.next == "x"

    def test_heading_with_extra_words_is_unknown(self) -> None:
        """`## Summary of changes` is not the Summary heading."""
        h = parse_handoff("# Next\nx\n## Summary of changes\ny")
        assert h.summary == ""
        assert h.next == "x\n## Summary of changes\ny"

    def test_headings_inside_code_fences_are_ignored(self) -> None:
        """A `# summary` comment inside fenced code does not open a section."""
        text = "# Artifacts\n```python\n# summary\nNext: 1\n```\n# Risks\nnone"
        h = parse_handoff(text)
        assert h.artifacts == "```python\n# summary\nNext: 1\n```"
        assert h.summary == ""
        assert h.risks == "none"

    def test_report_wrapped_in_one_markdown_fence_is_unwrapped(self) -> None:
        """A whole report inside one ```markdown fence is parsed as if unfenced."""
        h = parse_handoff("```markdown\n# Summary\nok\n# Next\ngo\n```\n")
        assert (h.summary, h.next) == ("ok", "go")

    def test_closing_hashes_are_ignored(self) -> None:
        """An ATX closing sequence, as in `## Summary ##`, is not part of the title."""
        assert parse_handoff("## Summary ##\nok").summary == "ok"

    def test_nested_fence_in_wrapped_report(self) -> None:
        """Inside an unwrapped report, a fenced code block still hides its `#` lines."""
        text = "```md\n# Artifacts\n```sh\n# next\nmake\n```\n# Next\ngo\n```"
        h = parse_handoff(text)
        assert h.artifacts == "```sh\n# next\nmake\n```"
        assert h.next == "go"

    def test_repeated_section_keeps_both_parts(self) -> None:
        """A section that appears twice keeps both texts, blank-line separated."""
        assert parse_handoff("# Risks\na\n# Next\nn\n# Risks\nb").risks == "a\n\nb"

    def test_windows_line_endings(self) -> None:
        """CRLF text parses like LF text."""
        assert parse_handoff("# Summary\r\nok\r\n# Next\r\ngo\r\n").next == "go"


class TestParseLabelLines:
    def test_label_with_text_on_same_and_following_lines(self) -> None:
        """`Summary: text` starts the section; following lines belong to it."""
        h = parse_handoff("Summary: first line\nsecond line\nNext: do more\nand more")
        assert h.summary == "first line\nsecond line"
        assert h.next == "do more\nand more"

    @pytest.mark.parametrize(
        "line",
        ["Artifacts: a.py", "**Artifacts:** a.py", "**Artifacts**: a.py", "__Artifacts__: a.py"],
    )
    def test_bold_labels(self, line: str) -> None:
        """Bold around the label (with the colon inside or outside) is tolerated."""
        assert parse_handoff(line).artifacts == "a.py"

    def test_bold_name_alone_is_a_heading(self) -> None:
        """A line that is only `**Risks**` opens the Risks section."""
        assert parse_handoff("**Risks**\nnone known").risks == "none known"

    def test_plain_name_without_colon_is_not_a_heading(self) -> None:
        """A bare word `Risks` with no colon, bold or `#` is ordinary text."""
        assert parse_handoff("Summary: a\nRisks\nb").summary == "a\nRisks\nb"

    def test_sections_are_stripped(self) -> None:
        """Surrounding whitespace and blank lines are stripped from each section."""
        assert parse_handoff("Summary:   \n\n   text  \n\n\nNext: x").summary == "text"


class TestParseCase:
    @pytest.mark.parametrize(
        "text",
        ["# SUMMARY\nok", "### summary\nok", "## SuMmArY\nok", "summary: ok", "SUMMARY: ok"],
    )
    def test_headings_match_any_case(self, text: str) -> None:
        """Section names are matched case-insensitively."""
        assert parse_handoff(text).summary == "ok"

    def test_mixed_styles_in_one_report(self) -> None:
        """Markdown headings and label lines mix in one report."""
        h = parse_handoff("## SUMMARY\nok\nactions: ran\n**ARTIFACTS:** x.py\n### risks\nnone")
        assert h == Handoff(summary="ok", actions="ran", artifacts="x.py", risks="none")


class TestParseNoHeadings:
    def test_whole_text_is_summary(self) -> None:
        """Without any known heading the whole stripped text is the Summary."""
        h = parse_handoff("  I fixed it.\n\n## Notes\nall good  \n")
        assert h == Handoff(summary="I fixed it.\n\n## Notes\nall good")

    def test_empty_text_is_empty_handoff(self) -> None:
        """Empty or blank text gives an empty handoff."""
        assert parse_handoff("  \n ").is_empty()

    def test_handoff_with_text_is_not_empty(self) -> None:
        """A handoff with any section text is not empty."""
        assert not Handoff(risks="x").is_empty()

    def test_handoff_with_only_verdict_is_not_empty(self) -> None:
        """A verdict alone makes a handoff non-empty."""
        assert not Handoff(verdict="APPROVE").is_empty()


class TestParseVerdict:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("Verdict: APPROVE", "APPROVE"),
            ("verdict: approve", "APPROVE"),
            ("**Verdict:** APPROVE", "APPROVE"),
            ("**Verdict**: `APPROVE`", "APPROVE"),
            ("Verdict: **APPROVE**.", "APPROVE"),
            ("## Verdict: APPROVE", "APPROVE"),
            ("- Verdict: APPROVE", "APPROVE"),
            ("Verdict: CHANGES_REQUESTED", "CHANGES_REQUESTED"),
            ("verdict: changes requested", "CHANGES_REQUESTED"),
            ("Verdict: Changes-Requested", "CHANGES_REQUESTED"),
            ("`Verdict: CHANGES_REQUESTED`", "CHANGES_REQUESTED"),
        ],
    )
    def test_variants(self, line: str, expected: str) -> None:
        """Case, bold, backticks, and space/hyphen/underscore spellings are accepted."""
        assert parse_verdict(f"Review done.\n{line}\n") == expected

    def test_last_verdict_wins(self) -> None:
        """With several verdict lines the last one decides."""
        text = "Verdict: CHANGES_REQUESTED\nthen I re-checked\nVerdict: APPROVE"
        assert parse_verdict(text) == "APPROVE"
        assert parse_verdict(text + "\nVerdict: changes requested") == "CHANGES_REQUESTED"

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "looks fine",
            "Verdict: maybe",
            "Verdict: APPROVED",
            "Verdict: APPROVE unless CI fails",
            "I approve",
        ],
    )
    def test_absent_or_unrecognised(self, text: str) -> None:
        """No well-formed verdict line gives None."""
        assert parse_verdict(text) is None

    def test_parse_handoff_sets_verdict(self) -> None:
        """parse_handoff fills Handoff.verdict from the text."""
        h = parse_handoff("# Summary\nok\n# Next\nmerge\n\nVerdict: APPROVE")
        assert h.verdict == "APPROVE"
        assert h.summary == "ok"


def _only(name: str, text: str) -> Handoff:
    changes: dict[str, Any] = {name: text}
    return replace(Handoff(), **changes)


class TestRenderBlock:
    def test_only_carried_sections_under_step_title(self) -> None:
        """The block is `### title` with Summary, Artifacts, Risks, Next; Actions is dropped."""
        h = Handoff(summary="S", actions="SECRET-ACTIONS", artifacts="A", risks="R", next="N")
        block = render_block("task-01 · plan (planner)", h)
        assert block.startswith("### task-01 · plan (planner)\n")
        assert "SECRET-ACTIONS" not in block
        assert "actions" not in block.casefold()
        positions = [block.index(f"#### {name.capitalize()}\n") for name in CARRIED_SECTIONS]
        assert positions == sorted(positions)

    def test_empty_sections_omitted(self) -> None:
        """Sections without text get no heading in the block."""
        block = render_block("step", Handoff(summary="only this"))
        assert block == "### step\n\n#### Summary\nonly this"

    def test_title_collapsed_to_one_line(self) -> None:
        """A multi-line title becomes one heading line."""
        assert render_block(" a\n b ", Handoff()) == "### a b"

    @pytest.mark.parametrize("name", CARRIED_SECTIONS)
    def test_each_cap_is_exact(self, name: str) -> None:
        """A section longer than its cap is cut to exactly the cap, marker included."""
        cap = CARRY_CAPS[name]
        block = render_block("t", _only(name, "x" * (cap + 1)))
        text = block.split(f"#### {name.capitalize()}\n", 1)[1]
        assert len(text) == cap
        assert text.endswith(TRUNCATION_MARKER)

    @pytest.mark.parametrize("name", CARRIED_SECTIONS)
    def test_text_at_cap_is_untouched(self, name: str) -> None:
        """A section exactly at its cap is carried whole, without a marker."""
        cap = CARRY_CAPS[name]
        block = render_block("t", _only(name, "y" * cap))
        assert block.endswith("\n" + "y" * cap)

    def test_large_artifacts_cut_to_cap(self) -> None:
        """A 5000-character Artifacts section is carried as at most 1600 characters."""
        block = render_block("t", Handoff(artifacts="a" * 5000))
        text = block.split("#### Artifacts\n", 1)[1]
        assert len(text) <= 1600
        assert text.endswith(TRUNCATION_MARKER)

    def test_default_caps(self) -> None:
        """The caps are Summary 900, Artifacts 1600, Risks 900, Next 900."""
        assert dict(CARRY_CAPS) == {"summary": 900, "artifacts": 1600, "risks": 900, "next": 900}

    def test_custom_caps(self) -> None:
        """Caps passed in replace the defaults."""
        caps = {"summary": 20, "artifacts": 20, "risks": 20, "next": 20}
        block = render_block("t", Handoff(summary="z" * 100), caps)
        assert block == "### t\n\n#### Summary\n" + "z" * (20 - len(TRUNCATION_MARKER)) + (
            TRUNCATION_MARKER
        )

    def test_missing_cap_is_config_error(self) -> None:
        """A caps mapping without a carried section raises ConfigError naming it."""
        with pytest.raises(ConfigError, match="'risks'"):
            render_block("t", Handoff(), {"summary": 1, "artifacts": 1, "next": 1})


def _step(i: int) -> tuple[str, Handoff]:
    return f"step-{i:02d}", Handoff(summary=f"summary of step {i:02d} " + "s" * 800)


class TestBuildCarry:
    def test_blocks_joined_oldest_first(self) -> None:
        """Blocks appear in the order given (oldest first)."""
        carry = build_carry([("one", Handoff(summary="1")), ("two", Handoff(summary="2"))])
        assert carry == "### one\n\n#### Summary\n1\n\n### two\n\n#### Summary\n2"

    def test_no_blocks_is_empty(self) -> None:
        """No earlier steps give an empty carry."""
        assert build_carry([]) == ""

    def test_oldest_dropped_first(self) -> None:
        """Over max_chars, the oldest blocks go and the newest survive within the limit."""
        steps = [_step(i) for i in range(30)]
        carry = build_carry(steps, max_chars=DEFAULT_MAX_CARRY_CHARS)
        assert len(carry) <= DEFAULT_MAX_CARRY_CHARS
        titles = re.findall(r"^### (step-\d\d)$", carry, flags=re.MULTILINE)
        assert titles[-1] == "step-29"
        assert "### step-00" not in carry
        assert titles == [f"step-{i:02d}" for i in range(30 - len(titles), 30)]

    def test_drops_no_more_than_needed(self) -> None:
        """Exactly the oldest blocks that do not fit are dropped."""
        blocks = [render_block(*_step(i)) for i in range(5)]
        limit = len("\n\n".join(blocks[2:]))
        carry = build_carry([_step(i) for i in range(5)], max_chars=limit)
        assert carry == "\n\n".join(blocks[2:])

    def test_single_newest_block_truncated_to_limit(self) -> None:
        """When the newest block alone exceeds max_chars it is cut to max_chars."""
        carry = build_carry([_step(0), _step(1)], max_chars=100)
        assert len(carry) == 100
        assert carry.startswith("### step-01")
        assert carry.endswith(TRUNCATION_MARKER)

    def test_deterministic(self) -> None:
        """The same input always gives the same carry."""
        steps = [_step(i) for i in range(30)]
        assert build_carry(steps, max_chars=5000) == build_carry(steps, max_chars=5000)

    def test_negative_max_chars_is_config_error(self) -> None:
        """A negative max_chars raises ConfigError, an OrchestraError (and no built-in error)."""
        with pytest.raises(ConfigError) as info:
            build_carry([_step(0)], max_chars=-1)
        assert isinstance(info.value, OrchestraError)
        assert not isinstance(info.value, ValueError)

    def test_plan_to_implement(self) -> None:
        """A plan step's Summary and Next reach the implement step; its Actions do not."""
        plan_output = """\
I read the repository first.

**Summary:** Split config loading into `load_config` and `validate_config`.

**Actions:** Grepped for callers of CONFIG_ACTIONS_MARKER.

**Artifacts:** docs/plan.md

**Risks:** The CLI reads config twice.

**Next:** Implement `load_config` in orchestra/config.py, then add tests.
"""
        plan = parse_handoff(plan_output)
        carry = build_carry([("task-03 · plan (planner)", plan)])
        assert carry.startswith("### task-03 · plan (planner)")
        assert "Split config loading into `load_config` and `validate_config`." in carry
        assert "Implement `load_config` in orchestra/config.py, then add tests." in carry
        assert "docs/plan.md" in carry
        assert "The CLI reads config twice." in carry
        assert "CONFIG_ACTIONS_MARKER" not in carry
        assert "I read the repository first." not in carry


class TestFingerprint:
    def test_equal_for_whitespace_and_case_variants(self) -> None:
        """Whitespace and case differences do not change the fingerprint."""
        a = Handoff(summary="Fixed the Bug.", next="Run  tests\nagain")
        b = Handoff(summary="  fixed   THE bug.\n", next="run tests again")
        assert fingerprint(a) == fingerprint(b)

    def test_different_for_different_text(self) -> None:
        """Different words give a different fingerprint."""
        assert fingerprint(Handoff(summary="fixed it")) != fingerprint(Handoff(summary="broke it"))

    def test_section_boundaries_matter(self) -> None:
        """The same text in a different section gives a different fingerprint."""
        assert fingerprint(Handoff(summary="x")) != fingerprint(Handoff(next="x"))

    def test_is_sha256_hex(self) -> None:
        """The fingerprint is a 64-character lowercase hex digest."""
        assert re.fullmatch(r"[0-9a-f]{64}", fingerprint(Handoff()))

    def test_parsed_repeat_matches(self) -> None:
        """An agent repeating its report with other spacing and case is detected."""
        first = parse_handoff("# Summary\nNo progress.\n# Next\nRetry.")
        second = parse_handoff("summary:   no progress.\n\nNEXT: retry.\n")
        assert fingerprint(first) == fingerprint(second)


class TestPathologicalInput:
    @pytest.mark.parametrize(
        "line",
        [
            " " * 100_000,
            "*" * 100_000,
            "**summary" + " " * 100_000 + "x",
            "# a" + "\t" * 100_000 + "#x",
            "Verdict:" + " " * 100_000 + "x",
            "Verdict: APPROVE" + "*" * 100_000 + "x",
        ],
    )
    def test_long_lines_parse_in_linear_time(self, line: str) -> None:
        """A 100k-character line of repeated markup parses without catastrophic backtracking."""
        started = time.perf_counter()
        parse_handoff(f"# Summary\n{line}\n")
        parse_verdict(line)
        # A generous bound: the quadratic version took 25 s; linear parsing takes milliseconds.
        assert time.perf_counter() - started < 10.0


class TestPublicSurface:
    def test_all_lists_public_api(self) -> None:
        """__all__ lists exactly the public API, and every name in it exists."""
        assert set(handoff_module.__all__) == {
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
        }
        assert all(hasattr(handoff_module, name) for name in handoff_module.__all__)

    def test_schema_constants(self) -> None:
        """The schema has five sections in order and a 24000-character default carry limit."""
        assert SECTIONS == ("summary", "actions", "artifacts", "risks", "next")
        assert CARRIED_SECTIONS == ("summary", "artifacts", "risks", "next")
        assert DEFAULT_MAX_CARRY_CHARS == 24_000

"""Task file parsing: sections, front matter, limits, names (orchestra.taskfile)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.errors import PathEscapeError, TaskFileError
from orchestra.queue.taskfile import (
    check_name,
    find_sections,
    parse_task,
    parse_task_text,
    split_front_matter,
    validate_task_text,
    with_attempts,
)

VALID = "## Goal\nMake it fast.\n\n## Acceptance criteria\n- it is fast\n"


def reason(text: str, *, max_chars: int = 12_000) -> str:
    found = validate_task_text(text, max_chars=max_chars)
    assert found is not None
    return found


class TestSections:
    def test_markdown_headings_of_any_level(self) -> None:
        """`#` to `######` headings all start sections, keyed by lower-case name."""
        text = "# Goal\ng\n###### Test plan\nt\n### Acceptance Criteria ###\na\n"
        assert find_sections(text) == {"goal": "g", "test plan": "t", "acceptance criteria": "a"}

    def test_colon_lines_are_headings(self) -> None:
        """`GOAL: text` starts the Goal section with the text on the same line."""
        text = "GOAL: make it fast\nmore\nAcceptance criteria:\n- fast\n"
        assert find_sections(text) == {
            "goal": "make it fast\nmore",
            "acceptance criteria": "- fast",
        }

    def test_lower_case_markdown_heading(self) -> None:
        """`# acceptance criteria` is matched case-insensitively."""
        text = "## Goal\ng\n# acceptance criteria\na\n"
        assert find_sections(text)["acceptance criteria"] == "a"

    def test_unknown_colon_lines_are_content(self) -> None:
        """`Note: ...` is not a heading; only the known names are."""
        assert find_sections("Goal:\nNote: keep it\n") == {"goal": "Note: keep it"}

    def test_headings_in_code_fences_are_content(self) -> None:
        """A `# comment` inside a fenced code block does not start a section."""
        text = "## Test plan\n```bash\n# Goal\nmake test\n```\n"
        assert find_sections(text) == {"test plan": "```bash\n# Goal\nmake test\n```"}

    def test_deeper_unknown_heading_stays_in_its_section(self) -> None:
        """`### Edge cases` under `## Acceptance criteria` is part of it."""
        text = "## Acceptance criteria\n- a\n### Edge cases\n- b\n## Notes\nn\n"
        sections = find_sections(text)
        assert sections["acceptance criteria"] == "- a\n### Edge cases\n- b"
        assert sections["notes"] == "n"

    def test_hashtag_is_not_a_heading(self) -> None:
        """`#tag` (no space) is text."""
        assert find_sections("## Goal\n#tag\n") == {"goal": "#tag"}


class TestRequired:
    def test_valid_task_has_no_reason(self) -> None:
        """A task with Goal and Acceptance criteria validates."""
        assert validate_task_text(VALID) is None

    def test_missing_goal(self) -> None:
        """Without a Goal the reason names the Goal section."""
        assert "'Goal'" in reason("## Acceptance criteria\n- a\n")

    def test_missing_acceptance_criteria(self) -> None:
        """Without Acceptance criteria the reason names that section."""
        assert "'Acceptance criteria'" in reason("## Goal\ng\n")

    def test_empty_goal(self) -> None:
        """A Goal heading with nothing under it is refused."""
        assert "empty" in reason("## Goal\n\n## Acceptance criteria\n- a\n")

    def test_oversize(self) -> None:
        """Text over max_chars is refused with the size and the limit."""
        text = VALID + "x" * 100
        assert f"{len(text)} characters, over the limit of 50" in reason(text, max_chars=50)

    def test_exactly_at_the_limit(self) -> None:
        """Text of exactly max_chars is accepted."""
        assert validate_task_text(VALID, max_chars=len(VALID)) is None


class TestFrontMatter:
    def test_known_keys(self) -> None:
        """title, verify, attempts and model are read; unknown keys are kept."""
        text = "---\ntitle: Speed\nverify: make test\nattempts: 2\nmodel: m1\nowner: me\n---\n"
        task = parse_task_text(text + VALID, task_id="task-1", path=Path("task-1.md"))
        assert (task.title, task.verify, task.attempts, task.model) == (
            "Speed",
            "make test",
            2,
            "m1",
        )
        assert task.front["owner"] == "me"
        assert task.body == VALID

    def test_defaults_without_front_matter(self) -> None:
        """No front matter: attempts 0, no verify/model, title from the Goal's first line."""
        task = parse_task_text(VALID, task_id="task-1", path=Path("task-1.md"))
        assert (task.title, task.verify, task.attempts, task.model) == (
            "Make it fast.",
            None,
            0,
            None,
        )

    def test_title_from_first_non_section_heading(self) -> None:
        """A `# Title` heading that is not a section becomes the title."""
        task = parse_task_text("# Speed up CI\n" + VALID, task_id="task-1", path=Path("x"))
        assert task.title == "Speed up CI"

    @pytest.mark.parametrize(
        ("front", "expected"),
        [
            ("attempts: [1\n", "not valid YAML"),
            ("- a\n- b\n", "must be a mapping"),
            ("attempts: two\n", "'attempts' must be a whole number"),
            ("attempts: -1\n", "'attempts' must be a whole number"),
            ("attempts: true\n", "'attempts' must be a whole number"),
            ("verify: 3\n", "'verify' must be a string"),
        ],
    )
    def test_invalid_front_matter(self, front: str, expected: str) -> None:
        """Invalid YAML, a non-mapping or a wrongly typed key gives the reason."""
        assert expected in reason(f"---\n{front}---\n{VALID}")

    def test_unclosed_front_matter(self) -> None:
        """An opening `---` without a closing one is refused."""
        assert "no closing" in reason("---\ntitle: x\n" + VALID)

    def test_with_attempts_keeps_body_bytes(self) -> None:
        """Setting attempts rewrites only the front matter; CRLF body text is untouched."""
        body = "## Goal\r\ng  \r\n## Acceptance criteria\r\n- é\r\n\r\n"
        text = "---\ntitle: T\nextra: 1\n---\n" + body
        front, new_body = split_front_matter(with_attempts(text, 4))
        assert front == {"title": "T", "extra": 1, "attempts": 4}
        assert new_body == body

    def test_with_attempts_adds_front_matter(self) -> None:
        """A file without front matter gets one; the whole old text becomes the body."""
        assert with_attempts(VALID, 1) == "---\nattempts: 1\n---\n" + VALID


class TestParseFile:
    def test_reads_a_task_file(self, tmp_path: Path) -> None:
        """parse_task takes the task id from the file name and keeps the whole text."""
        path = tmp_path / "task-07.md"
        path.write_text(VALID, encoding="utf-8")
        task = parse_task(path)
        assert (task.task_id, task.path, task.text) == ("task-07", path, VALID)

    def test_bad_name(self, tmp_path: Path) -> None:
        """A file not named task-<digits>.md is refused."""
        path = tmp_path / "notes.md"
        path.write_text(VALID, encoding="utf-8")
        with pytest.raises(TaskFileError, match="does not match"):
            parse_task(path)

    def test_not_utf8(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are refused with the reason."""
        path = tmp_path / "task-1.md"
        path.write_bytes(VALID.encode() + b"\xff\xfe")
        with pytest.raises(TaskFileError, match="not UTF-8"):
            parse_task(path)

    def test_huge_file_refused_by_size(self, tmp_path: Path) -> None:
        """A file far over the limit is refused from its size alone."""
        path = tmp_path / "task-1.md"
        path.write_text(VALID + "x" * 1000, encoding="utf-8")
        with pytest.raises(TaskFileError, match="bytes, over the limit of 100"):
            parse_task(path, max_chars=100)


class TestCheckName:
    @pytest.mark.parametrize("name", ["../task-1.md", "a/task-1.md", "a\\b", "..", ".", ""])
    def test_refuses_separators(self, name: str) -> None:
        """Names with path separators (or . / ..) are refused."""
        with pytest.raises(PathEscapeError):
            check_name(name)

    def test_plain_name_passes(self) -> None:
        """A plain file name is returned as is."""
        assert check_name("task-1.md") == "task-1.md"

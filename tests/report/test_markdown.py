"""Agent text in the task report stays text: inline escaped, blocks unclosable
(orchestra/report/markdown.py), checked with a CommonMark parser with HTML on."""

from __future__ import annotations

from markdown_it import MarkdownIt

from orchestra.engine.handoff import Handoff
from orchestra.engine.step import StepRecord
from orchestra.engine.task import TaskOutcome
from orchestra.report.markdown import fenced, inline, task_markdown

PARSER = MarkdownIt("commonmark", {"html": True}).enable("table")


def _kinds(markdown: str) -> set[str]:
    tokens = PARSER.parse(markdown)
    return {t.type for t in tokens} | {c.type for t in tokens for c in t.children or []}


def test_inline_is_one_line_of_text() -> None:
    text = inline("<b>x</b> & [a](b) ![i](http://h/p.png) | c\n# h\r\n<!-- x -->")
    assert "\n" not in text and "<" not in text
    assert text.startswith("&lt;b&gt;x&lt;/b&gt; &amp; \\[a\\](b) !\\[i\\]")
    kinds = _kinds(f"**Reason:** {text}")
    assert not kinds & {"html_inline", "html_block", "image", "link_open", "heading_open"}


def test_a_fence_the_text_cannot_close() -> None:
    for text in ("```\n<script>x</script>", "x\n`````\ny", "~~~\n```` \n"):
        block = fenced(text)
        tokens = PARSER.parse(f"{block}\n\nafter <b>")
        fences = [t for t in tokens if t.type == "fence"]
        assert len(fences) == 1 and fences[0].content == text + "\n", text


def test_the_report_renders_only_its_own_markup() -> None:
    evil = "```\n</code><img src=x onerror=1><br>\n# H\n[l](javascript:x) | a |"
    record = StepRecord(
        "task-01",
        "implement",
        evil,
        "coder",
        "failed",
        1.0,
        None,
        evil,
        evil,
        handoff=Handoff(summary=evil),
    )
    outcome = TaskOutcome("task-01", evil, "failed", evil, steps=[record], integration=evil)
    kinds = _kinds(task_markdown(outcome))
    assert not kinds & {"html_inline", "html_block", "image", "link_open"}, kinds
    html = PARSER.render(task_markdown(outcome))
    assert html.count("<h1>") == 1 and "<img" not in html and "<br>" not in html

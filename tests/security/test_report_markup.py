"""Agent text in the task report and its Prefect artifact stays text (issue 18, item 6).

The hostile agent's handoff, stdout and stderr close code fences and carry HTML, a heading, an
image and links. The artifact is read back from a real Prefect API and rendered with a
CommonMark renderer with HTML on (as the UI's is): only Orchestra's own markup comes out.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from hostile_agent import HOSTILE_TEXT
from hostile_support import Scene
from markdown_it import MarkdownIt

from orchestra.prefect.artifacts import publish_task_artifact
from orchestra.report.markdown import task_markdown

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

#: Every element Orchestra's report uses; an agent's text must add none.
OURS = {"h1", "h2", "p", "strong", "br", "table", "thead", "tbody", "tr", "th", "td", "pre", "code"}


def publish(outcome: Any) -> str:
    """Publish the task's artifact in a real flow run; return the flow run's id."""
    from prefect import flow
    from prefect.context import get_run_context

    @flow(name="hostile-report")
    def report() -> str:
        publish_task_artifact(outcome, "sec")
        return str(get_run_context().flow_run.id)  # type: ignore[union-attr]

    return report()


def test_hostile_handoff_stays_text_in_the_artifact(scene: Scene, prefect_reader: Any) -> None:
    attempt = scene.run("process", "hostile-report", config={"tasks": {"max_attempts": 1}})
    outcome = attempt.outcome
    assert outcome.status == "failed"
    assert "<script>" in outcome.steps[0].handoff.summary  # the agent's text as it wrote it
    from uuid import UUID

    [artifact] = prefect_reader.artifacts(UUID(publish(outcome)))
    markdown = artifact.data
    assert markdown == task_markdown(outcome)
    parser = MarkdownIt("commonmark", {"html": True}).enable("table")
    tokens = parser.parse(markdown)
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in t.children or []}
    assert not kinds & {"html_inline", "html_block", "image", "link_open"}, markdown
    page = parser.render(markdown)
    tags = set(re.findall(r"<([a-z][a-z0-9]*)", page))
    assert tags <= OURS, f"markup from agent text: {tags - OURS}"
    assert page.count("<h1>") == 1 and "Injected heading</h" not in page
    assert "<!--" not in page
    # The handoff is all there, as text inside one code block.
    blocks = [html.unescape(b) for b in re.findall(r"<code[^>]*>(.*?)</code>", page, re.S)]
    assert any(HOSTILE_TEXT.strip() in b for b in blocks), blocks

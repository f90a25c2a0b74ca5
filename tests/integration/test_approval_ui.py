"""The approval form in a real browser: Chromium (Debian's package) driven by Playwright opens
each waiting task's run in the Prefect UI of the project's own server and answers its form.

`python -m flows.run` runs a cycle of three tasks with ``git.approval: merge`` as a user would
(no PREFECT_API_URL: the project's server starts and serves the UI). For each task the browser
opens the paused run, clicks Resume, picks the decision, writes the comment and submits:
task-1 approved (merged), task-2 rejected (failed with the comment), task-3 sent back (the
comment reaches its fixer's prompt; it asks again and is approved). Screenshots of the waiting
run and of the filled form are kept in ``$ORCHESTRA_TEST_ARTIFACTS/approval-ui`` (default
``.test-artifacts/`` in the checkout); docs/24-7.md shows two of them.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from parallel_support import enqueue, git, make_project

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("ORCHESTRA_TEST_ARTIFACTS", REPO / ".test-artifacts"))
LINK = re.compile(r"Watch it live: (http://127\.0\.0\.1:\d+)/runs/flow-run/")
LINK_BASE = re.compile(r"(http://127\.0\.0\.1:\d+)")
CYCLE_S = 300


def clean_env() -> dict[str, str]:
    """A user's shell: no Prefect or Orchestra settings from the test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORCHESTRA_"))}
    return env | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1"}


def wait_for(what: str, probe: Any, deadline_s: float = 120) -> Any:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if found := probe():
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} within {deadline_s} s")


def paused_run(ui: str, task_id: str) -> str | None:
    """The id of the paused flow run of ``task_id`` on the project's server, if any."""
    flt = {"tags": {"all_": [f"task:{task_id}"]}, "state": {"type": {"any_": ["PAUSED"]}}}
    try:
        resp = httpx.post(f"{ui}/api/flow_runs/filter", json={"flow_runs": flt}, timeout=30)
    except httpx.TimeoutException:
        return None  # a slow answer on a busy machine: the caller polls again until its deadline
    runs = resp.json() if resp.status_code == 200 else []
    return str(runs[0]["id"]) if runs else None


class Hook(http.server.BaseHTTPRequestHandler):
    """The webhook the example automation's notification block posts to."""

    received: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        self.received.append(self.rfile.read(size).decode(errors="replace"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def notify_on_pause(root: Path, hook_url: str) -> None:
    """Start the project's server, then create the example's block and automation on it."""
    import yaml

    started = subprocess.run(
        [sys.executable, "-m", "orchestra.cli.app", "server", "start", "--project", str(root)],
        cwd=REPO, env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    ui = LINK_BASE.search(started.stdout)
    assert ui, started.stdout + started.stderr
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: f"{ui.group(1)}/api"}):
        block = CustomWebhookNotificationBlock(
            name="orchestra-approval", url=hook_url, json_data={"text": "{{subject}}: {{body}}"}
        )
        block_id = block.save("orchestra-approval")
        text = (REPO / "examples" / "approval-automation.yaml").read_text(encoding="utf-8")
        (spec,) = yaml.safe_load(text.replace("BLOCK_DOCUMENT_ID", str(block_id)))["automations"]
        with get_client(sync_client=True) as client:
            client.create_automation(AutomationCore.model_validate(spec))


def answer_in_browser(
    page: Any, ui: str, task_id: str, decision: str, comment: str, shots: Path
) -> None:
    """Open the task's waiting run, fill its form and submit it; screenshots on the way."""
    run_id = wait_for(f"{task_id} waiting for approval", lambda: paused_run(ui, task_id))
    page.goto(f"{ui}/runs/flow-run/{run_id}")
    page.get_by_role("button", name="Resume").wait_for()
    page.screenshot(path=shots / f"{task_id}-{decision.replace(' ', '-')}-waiting.png")
    page.get_by_role("button", name="Resume").click()
    form = page.get_by_role("dialog")
    form.get_by_text(f"{task_id}: Task").wait_for()  # the request: diff stat, verify, verdict, cost
    assert "verify" in form.inner_text() and "reviewer" in form.inner_text()
    if decision != "approve":
        form.locator(".p-select-button__icon").click()
        page.locator(".p-select-option", has_text=decision).click()
    assert form.locator(".p-select-button__value").inner_text() == decision
    form.locator("textarea").fill(comment)
    page.screenshot(path=shots / f"{task_id}-{decision.replace(' ', '-')}-form.png")
    form.get_by_role("button", name="Submit").click()
    wait_for(f"{task_id} resumed", lambda: paused_run(ui, task_id) != run_id)


def test_the_form_in_the_prefect_ui(tmp_path: Path) -> None:
    """Approve, reject and send back, each through the UI's form; the cycle's results follow;
    the example automation sends a notification for each wait."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "install Debian's chromium (`apt-get install chromium`; .ci/run does)"
    shots = ARTIFACTS / "approval-ui"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    env = {"PA_SLEEP": "0.2", "PA_PROMPTS": str(prompts)}
    # A server of its own: the example's automation is created on it, not on the shared one.
    extra = "  approval: merge\n  approval_timeout: 600\nserver:\n  scope: project\n"
    root = make_project(tmp_path / "p", parallel=3, env=env, extra=extra)
    enqueue(root, 3)
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    out = tmp_path / "cycle.out"
    cycle: subprocess.Popen[bytes] | None = None
    try:
        notify_on_pause(root, f"http://127.0.0.1:{hook.server_address[1]}/approval")
        cycle = subprocess.Popen(
            [sys.executable, "-m", "flows.run", "--project", str(root)],
            cwd=REPO,
            env=clean_env(),
            stdout=out.open("w"),
            stderr=subprocess.STDOUT,
        )
        ui = wait_for(
            "the run's UI link", lambda: (m := LINK.search(out.read_text())) and m.group(1)
        )
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            answer_in_browser(page, ui, "task-2", "reject", "not what I asked for", shots)
            answer_in_browser(page, ui, "task-3", "send back", "name it after the moon", shots)
            answer_in_browser(page, ui, "task-3", "approve", "thanks", shots)
            answer_in_browser(page, ui, "task-1", "approve", "fine", shots)
            browser.close()
        cycle.wait(timeout=CYCLE_S)
        # The example automation (examples/approval-automation.yaml): a notification a pause.
        wait_for("the approval notifications", lambda: len(Hook.received) >= 4, deadline_s=60)
    finally:
        if cycle is not None and cycle.poll() is None:
            cycle.kill()
        subprocess.run(
            [sys.executable, "-m", "orchestra.cli.app", "server", "stop", "--project", str(root)],
            cwd=REPO,
            env=clean_env(),
            capture_output=True,
            check=False,
        )
    summary = json.loads(next((root / ".orchestra" / "runs").glob("*/cycle.json")).read_text())
    by_id = {t["task"]: t for t in summary["tasks"]}
    assert by_id["task-2"]["status"] == "failed", out.read_text()[-3000:]
    assert "rejected by a person: not what I asked for" in by_id["task-2"]["reason"]
    for task_id in ("task-1", "task-3"):
        assert "fast-forwarded integration" in by_id[task_id]["integration"], by_id[task_id]
    merged = git(root, "ls-tree", "--name-only", "integration").split()
    assert {"task-1.txt", "task-3.txt"} <= set(merged) and "task-2.txt" not in merged
    (fix,) = prompts.glob("task-3-fix-*.md")
    assert "name it after the moon" in fix.read_text(encoding="utf-8")
    assert len(list(shots.glob("*.png"))) == 8
    hook.shutdown()
    texts = sorted(Hook.received)
    assert any("task-1 waits for approval" in t and "orchestra approve task-1" in t for t in texts)

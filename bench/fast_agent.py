#!/usr/bin/env python3
"""A scripted agent that does almost nothing, for measuring orchestration overhead.

    fast_agent.py PROMPT_FILE WORKSPACE OUTPUT_DIR

Reads the ``Role:`` and ``Step:`` lines of the prompt, writes a minimal ``OUTPUT_DIR/handoff.md``
(different per step, so Orchestra's "repeated handoff" check never fires) and exits 0 at once.
A reviewer's handoff ends with ``Verdict: APPROVE``. Standard library only; no output on stdout.
``FAST_AGENT_SLEEP=<seconds>`` sleeps first, as a real agent waiting on a model does.
``FAST_AGENT_WRITE=1``: the coder also writes ``fast-agent.txt`` in the workspace (a result
branch to integrate; the text is the prompt file's path, so every task's change differs).

Failure injection for the soak bench: as the coder, a task whose text holds ``INJECT-TASKFAIL``
fails on its own (exit 1), one holding ``INJECT-INFRA`` fails like a model API refusing the key
(exit 1, "401 Unauthorized" on stderr).
"""

import os
import sys
import time


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: fast_agent.py PROMPT_FILE WORKSPACE OUTPUT_DIR\n")
        return 2
    prompt_file, workspace, output_dir = argv
    if delay := float(os.environ.get("FAST_AGENT_SLEEP") or 0):
        time.sleep(delay)
    role, step = "agent", "step"
    inject = ""
    with open(prompt_file, encoding="utf-8") as handle:  # noqa: PTH123 - no pathlib import: start-up time
        for line in handle:
            if line.startswith("Role:"):
                role = line[5:].strip()
            elif line.startswith("Step:"):
                step = line[5:].strip()
            elif "INJECT-TASKFAIL" in line or "INJECT-INFRA" in line:
                inject = "infra" if "INJECT-INFRA" in line else "task"
    if role == "coder" and inject == "task":
        sys.stderr.write("fast agent: the tests still fail\n")
        return 1
    if role == "coder" and inject == "infra":
        sys.stderr.write("Error: 401 Unauthorized: invalid x-api-key\n")
        return 1
    text = (
        f"## Summary\n\nfast agent played {role} for step {step}.\n\n"
        "## Actions\n\nNone.\n\n## Artifacts\n\nNone.\n\n## Risks\n\nNone.\n\n"
        f"## Next\n\nContinue after {step}.\n"
    )
    if role == "coder" and os.environ.get("FAST_AGENT_WRITE") == "1":
        with open(f"{workspace}/fast-agent.txt", "w", encoding="utf-8") as handle:  # noqa: PTH123
            handle.write(f"{prompt_file}\n")
    if role == "reviewer":
        text += "\nVerdict: APPROVE\n"
    with open(f"{output_dir}/handoff.md", "w", encoding="utf-8") as handle:  # noqa: PTH123
        handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

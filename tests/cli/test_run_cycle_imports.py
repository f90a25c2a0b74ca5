"""``python -m flows.run`` reads Prefect's settings from the environment it prepares: Prefect is
imported only after the project is checked and the API chosen (PREFECT_HOME, PREFECT_API_URL), so
nothing before that (the preflight, the server start) may import it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: In a fresh process: the steps of run_cycle.main before the flows are loaded.
BEFORE_LOAD = """
import json, sys
from orchestra.cli import run_cycle
args = run_cycle.parse_args(["--project", sys.argv[1]])
project = run_cycle._check(args)
run_cycle.configure_prefect_env(project.root)
print(json.dumps(sorted(m for m in sys.modules if m == "prefect" or m.startswith("prefect."))))
"""


def test_preflight_does_not_import_prefect(demo_project: Path) -> None:
    """Opening and preflighting the project leaves Prefect unimported (its settings come later)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORCHESTRA_"))}
    done = subprocess.run(
        [sys.executable, "-c", BEFORE_LOAD, str(demo_project)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == []

"""Prefect settings Orchestra needs, set before Prefect is imported.

``PREFECT_HOME`` per project (so its runs stay with it and a later ``prefect server start``
with the same home shows them), analytics off (offline machines), and an ephemeral server
start-up timeout well above the ~14 s a fresh database takes.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

STARTUP_TIMEOUT_SECONDS = "90"


def configure_prefect_env(project: Path, environ: MutableMapping[str, str] | None = None) -> str:
    """Fill in Prefect's settings for ``project`` unless the user set them; return PREFECT_HOME."""
    env = os.environ if environ is None else environ
    env.setdefault("PREFECT_HOME", str(project / ".orchestra" / "prefect"))
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", STARTUP_TIMEOUT_SECONDS)
    env.setdefault("PREFECT_CLI_PROMPT", "false")
    # Prefect creates its home without parents and then fails to open its database.
    Path(env["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
    return env["PREFECT_HOME"]

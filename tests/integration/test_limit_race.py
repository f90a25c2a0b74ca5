"""Several processes create the agent limit at the same moment (pool workers' tasks starting
together on a shared server): every one of them goes on, none fails on "already exists"."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.prefect]

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import os, sys, time
from orchestra.prefect.limits import ensure_limit
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as c:  # connected and warm before the start signal
    c.hello()
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.001)
ensure_limit(sys.argv[2], 3)
"""


def test_concurrent_creation(prefect_api: str, tmp_path: Path) -> None:
    name = f"race-{uuid.uuid4().hex[:8]}"
    go = tmp_path / "go"
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(go), name],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    time.sleep(12)  # every child imported Prefect and is waiting
    go.write_text("go", encoding="utf-8")
    errors = [c.communicate(timeout=120)[1] for c in children]
    failed = [e[-600:] for c, e in zip(children, errors, strict=True) if c.returncode != 0]
    assert failed == []
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(name).limit == 3

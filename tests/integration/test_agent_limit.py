"""The global limit on agents (``orchestra-agents``) when its holder is killed with SIGKILL.

On the ephemeral API (the default) the bound lives in the cycle's process and dies with it (and a
slot left in the Prefect limit is freed at the next cycle's start). On a standalone server on Postgres, the server's repossessor returns it
once the lease (60 s) runs out. Real subprocesses, real servers, a real Postgres cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from parallel_support import enqueue, make_project

from orchestra.prefect.postgres import LocalPostgres
from orchestra.prefect.standalone import prefect_server

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_dir() -> Iterator[Path]:
    """A folder the postgres user can reach (pytest's own tmp folders are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="orchestra-pg-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", **extra)
    return env


def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def active_slots(env: dict[str, str]) -> int:
    code = (
        "from prefect.client.orchestration import get_client\n"
        "with get_client(sync_client=True) as c:\n"
        "    print(c.read_global_concurrency_limit_by_name('orchestra-agents').active_slots)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO
    )
    return int(out.stdout.strip().splitlines()[-1])


class TestKilledHolder:
    def test_ephemeral_slot_is_freed_by_the_next_cycle(self, tmp_path: Path) -> None:
        """A cycle SIGKILLed mid-step takes no slot with it on the ephemeral API: the next cycle
        runs the recovered task at once (limit 1, so a leaked slot would block it)."""
        hold = tmp_path / "hold"
        hold.write_text("", encoding="utf-8")
        root = make_project(
            tmp_path / "p",
            parallel=1,
            env={"PA_HOLD_WHILE": str(hold)},
            extra="limits:\n  max_parallel_agents: 1\n",
        )
        # A server of its own, on this home (the leak below writes into its database).
        (root / "orchestra.local.yaml").write_text(
            "workflows:\n  roocode_boomerang:\n    per_step_timeout: 40\nserver:\n  scope: project\n",
            encoding="utf-8",
        )
        enqueue(root, 1)
        env = clean_env(PREFECT_HOME=str(tmp_path / "home"))
        argv = [sys.executable, "-m", "flows.run", "--project", str(root)]
        first = subprocess.Popen(
            argv,
            env=env,
            cwd=REPO,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(
                lambda: list(root.glob(".orchestra/runs/*/task-1/01-plan/prompt.md")),
                120,
                "the first step",
            )
            time.sleep(1.0)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        hold.unlink()
        # A slot left in the Prefect limit itself (a run pointed at this home) is freed too.
        leak = (
            "from prefect.client.orchestration import get_client\n"
            "from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate as U\n"
            "with get_client(sync_client=True) as c:\n"
            "    c.upsert_global_concurrency_limit_by_name('orchestra-agents', 1)\n"
            "    c.update_global_concurrency_limit('orchestra-agents', U(active_slots=1))\n"
        )
        subprocess.run([sys.executable, "-c", leak], env=env, cwd=REPO, check=True, timeout=180)
        second = subprocess.run(
            argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False
        )
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        log = (root / ".orchestra" / "logs" / "orchestra.jsonl").read_text(encoding="utf-8")
        assert "1 slot(s) of orchestra-agents were held by runs that no longer exist" in log
        assert list((root / ".orchestra" / "done").glob("task-1-*.md"))

    def test_standalone_postgres_returns_the_slot_after_its_lease(self, pg_dir: Path) -> None:
        """A holder SIGKILLed on a standalone server on Postgres: its slot is taken, then back
        within the lease (60 s) plus the repossessor's interval."""
        pg = LocalPostgres(pg_dir / "pg")
        try:
            with prefect_server(pg_dir / "server", pg.start()) as api:
                env = clean_env(PREFECT_API_URL=api)
                code = (
                    "import time\n"
                    "from orchestra.prefect.limits import agent_slot\n"
                    "with agent_slot(2, None, timeout_s=30):\n"
                    "    print('held', flush=True)\n"
                    "    time.sleep(600)\n"
                )
                holder = subprocess.Popen(
                    [sys.executable, "-c", code],
                    env=env,
                    cwd=REPO,
                    stdout=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
                assert holder.stdout is not None
                assert holder.stdout.readline().strip() == "held"
                os.killpg(holder.pid, signal.SIGKILL)
                holder.wait()
                assert active_slots(env) == 1
                wait_for(lambda: active_slots(env) == 0, 120, "the repossessor to free the slot")
        finally:
            pg.stop()


class TestLocalPostgres:
    def test_start_is_idempotent_and_stop_stops(self, pg_dir: Path) -> None:
        """start() twice gives the same asyncpg URL, with pg_trgm in the prefect database;
        stop() leaves nothing running."""
        pg = LocalPostgres(pg_dir / "pg")
        try:
            url = pg.start()
            assert url.startswith("postgresql+asyncpg://orchestra:")
            assert url.endswith(f"@127.0.0.1:{pg.port()}/prefect")
            assert pg.start() == url
            assert pg.running()
            assert "pg_trgm" in pg._psql("prefect", "SELECT extname FROM pg_extension")
            assert oct(pg.password_file.stat().st_mode & 0o777) == "0o600"
        finally:
            assert pg.stop()
        assert not pg.running()
        assert json.dumps(url)  # the URL is plain text for PREFECT_API_DATABASE_CONNECTION_URL

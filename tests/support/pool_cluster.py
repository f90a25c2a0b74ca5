"""A Prefect server on Postgres, a bare git remote and N pool workers in Docker, for `dispatch: pool`.

Shared by tests/integration/test_pool_hosts.py and bench/bench_fanout.py (which puts tests/ on
sys.path, as bench_aider does). Everything is on a private Docker network named
``orch12b-pool-<random>``; every container carries the label ``orch12b.test=pool-hosts`` and
``orch12b.cluster=<that name>`` (clean-up removes its own cluster's only: a bench or another
checkout's test may run one at the same time):

- Postgres from ``orchestra-postgres:latest`` (docker/postgres, what docker/compose.postgres.yaml
  runs), the server's database. Not SQLite: with two workers polling, Prefect's SQLite server
  stalled every write for a whole ``busy_timeout`` (60 s, "database is locked"), long enough for
  a live worker to miss two heartbeats and be taken for dead (docs/decisions.md);
- the Prefect server, ``prefect server start`` in the orchestrator image (its port published on
  127.0.0.1 for the cycle, which runs on this host);
- a bare repository, ``git.remote = file:///...``: a folder bind-mounted at the same path into
  every worker (the shared volume);
- worker containers (hostnames ``orch12b-w1``, ...), each running only
  ``prefect worker start --pool orch12b-tasks --limit L``. This checkout is mounted read-only at
  its own path and put first on PYTHONPATH, so the workers run the code under test; the agent is
  ``bench/fast_agent.py`` on the process runtime inside the workers.

Nothing is left afterwards: containers (with their anonymous volumes) and the network go. When
the body fails, the tail of every container's log goes to stderr first (pytest shows it with the
failure); with ``ORCH12B_LOGS=<folder>`` set, the whole logs and each cycle's output are kept there
(the only way to read a flaky failure after the containers are gone).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
IMAGE = "orchestra-orchestrator:test"
PG_IMAGE = "orchestra-postgres:latest"
LABEL = "orch12b.test=pool-hosts"
CLUSTER = "orch12b.cluster"
"""The label naming a container's cluster (its network's name)."""
POOL = "orch12b-tasks"
ROLES = {"plan": "architect", "implement": "coder", "review": "reviewer", "fix": "fixer"}


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    """Run the docker CLI; its stdout."""
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        msg = f"docker {' '.join(args[:3])} failed: {proc.stderr.strip()}"
        raise AssertionError(msg)
    return proc.stdout.strip()


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd``; its stdout."""
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


@dataclass
class Cluster:
    """The server, the bare remote and the two workers."""

    tag: str
    api: str
    remote: Path
    workers: dict[str, str] = field(default_factory=dict)
    """hostname → container name."""


def _keep(name: str, text: str) -> None:
    """Write ``text`` under ``$ORCH12B_LOGS`` (when set) as ``name``."""
    folder = os.environ.get("ORCH12B_LOGS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_text(text, encoding="utf-8")


def _dump_logs(tag: str, failed: bool) -> None:
    """Every container's log: kept whole (``ORCH12B_LOGS``), its tail on stderr on failure."""
    names = docker(
        "ps", "-a", "--filter", f"label={CLUSTER}={tag}", "--format", "{{.Names}}", check=False
    )
    for name in names.split():
        proc = subprocess.run(
            ["docker", "logs", "-t", name], capture_output=True, text=True, timeout=60, check=False
        )
        text = proc.stdout + proc.stderr
        _keep(f"{name}.log", text)
        if failed:
            tail = "\n".join(text.splitlines()[-80:])
            print(f"----- docker logs {name} (last 80 lines) -----\n{tail}", file=sys.stderr)


def _wait_api(api: str, deadline_s: float = 120) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"the Prefect server at {api} did not answer within {deadline_s} s")


def _wait_workers(api: str, n: int, deadline_s: float = 120) -> None:
    end = time.monotonic() + deadline_s
    online: list[Any] = []
    while time.monotonic() < end:
        resp = httpx.post(f"{api}/work_pools/{POOL}/workers/filter", json={}, timeout=5)
        if resp.status_code == 200:
            online = [w for w in resp.json() if w.get("status") == "ONLINE"]
            if len(online) >= n:
                return
        time.sleep(1)
    raise AssertionError(f"{n} workers expected online in {POOL}, saw {online}")


def hosts(n: int) -> tuple[str, ...]:
    """The worker hostnames of a cluster of ``n``."""
    return tuple(f"orch12b-w{i}" for i in range(1, n + 1))


def _need_image(image: str, build: str) -> None:
    if docker("images", "-q", image, check=False) == "":
        msg = f"image {image} is missing: run {build}"
        raise RuntimeError(msg)


def _start_postgres(tag: str, labels: list[str]) -> str:
    """Postgres on the cluster's network (alias ``postgres``); the server's database URL."""
    name = f"{tag}-postgres"
    password = uuid.uuid4().hex  # a throwaway cluster's, on its private network only
    docker(
        "run", "-d", "--name", name, *labels, "--network", tag, "--network-alias", "postgres",
        "-e", "POSTGRES_USER=prefect", "-e", "POSTGRES_DB=prefect",
        "-e", f"POSTGRES_PASSWORD={password}", PG_IMAGE,
    )  # fmt: skip
    # The entrypoint's first start listens on its socket only; TCP means the real server is up.
    ready = ["exec", name, "pg_isready", "-q", "-h", "127.0.0.1", "-U", "prefect", "-d", "prefect"]
    end = time.monotonic() + 120
    while subprocess.run(["docker", *ready], check=False).returncode != 0:
        if time.monotonic() > end:
            raise AssertionError(f"Postgres in {name} was not ready within 120 s")
        time.sleep(1)
    return f"postgresql+asyncpg://prefect:{password}@postgres:5432/prefect"


@contextlib.contextmanager
def cluster(workers: int = 2, limit: int = 1, cpus: float | None = None) -> Iterator[Cluster]:
    """Start the server, the remote and ``workers`` workers of ``--limit limit``; remove all after.

    ``cpus`` caps each worker container (``docker run --cpus``): on one machine, workers of one
    core each stand in for hosts of their own (the fan-out bench).
    """
    _need_image(IMAGE, "scripts/build-orchestrator-image.sh")
    _need_image(PG_IMAGE, "scripts/build-postgres-image.sh")
    tag = f"orch12b-pool-{uuid.uuid4().hex[:8]}"
    labels = ["--label", LABEL, "--label", f"{CLUSTER}={tag}"]
    base = Path(tempfile.mkdtemp(prefix="orch12b-pool-"))
    base.chmod(0o755)
    remote = base / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    uid = f"{os.getuid()}:{os.getgid()}"
    try:
        docker("network", "create", *labels, tag)
        database = _start_postgres(tag, labels)
        docker(
            "run", "-d", "--name", f"{tag}-server", *labels, "--network", tag,
            "--network-alias", "prefect-server", "-p", "127.0.0.1::4200",
            "-e", "PREFECT_HOME=/tmp/prefect", "-e", "PREFECT_SERVER_ANALYTICS_ENABLED=false",
            "-e", f"PREFECT_API_DATABASE_CONNECTION_URL={database}",
            IMAGE, "prefect", "server", "start", "--host", "0.0.0.0", "--port", "4200",
        )  # fmt: skip
        port = docker("port", f"{tag}-server", "4200/tcp").splitlines()[0].rsplit(":", 1)[1]
        api = f"http://127.0.0.1:{port}/api"
        _wait_api(api)
        found = Cluster(tag, api, remote)
        for host in hosts(workers):
            name = f"{tag}-{host}"
            limits = ["--cpus", str(cpus)] if cpus else []
            docker(
                "run", "-d", "--name", name, "--hostname", host, *labels, *limits,
                "--network", tag, "--user", uid,
                "-v", f"{REPO}:{REPO}:ro", "-v", f"{remote}:{remote}",
                "-e", f"PYTHONPATH={REPO}", "-e", "HOME=/tmp", "-e", "PREFECT_HOME=/tmp/prefect",
                "-e", "PREFECT_API_URL=http://prefect-server:4200/api",
                "-e", "PREFECT_WORKER_QUERY_SECONDS=2", "-e", "PREFECT_WORKER_PREFETCH_SECONDS=0",
                "-e", "PREFECT_SERVER_ANALYTICS_ENABLED=false",
                IMAGE, "prefect", "worker", "start", "--pool", POOL, "--type", "process",
                "--limit", str(limit),
            )  # fmt: skip
            found.workers[host] = name
        _wait_workers(api, workers)
        try:
            yield found
        except BaseException:
            _dump_logs(tag, failed=True)
            raise
        _dump_logs(tag, failed=False)
    finally:
        for name in left_of(tag).split():
            docker("rm", "-f", "-v", name, check=False)
        docker("network", "rm", tag, check=False)
        # Pushed objects belong to this user (the workers ran as its uid): plain removal works.
        subprocess.run(["rm", "-rf", str(base)], check=False)


def left_of(tag: str) -> str:
    """The ids of the containers of cluster ``tag`` still there (running or not)."""
    return docker("ps", "-aq", "--filter", f"label={CLUSTER}={tag}", check=False)


def make_project(
    root: Path,
    remote: Path,
    sleep_s: float,
    parallel: int = 2,
    *,
    agent: Path | None = None,
    env: dict[str, str] | None = None,
    git_lines: tuple[str, ...] = (),
    files: dict[str, str] | None = None,
) -> Path:
    """A git project whose tasks go to the pool, the fast agent sleeping ``sleep_s`` per step
    (or ``agent`` with ``env``); ``git_lines`` join the `git:` section, ``files`` the commit."""
    root.mkdir(parents=True)
    script = agent or REPO / "bench" / "fast_agent.py"
    command = json.dumps(["python3", str(script), "{prompt_file}", "{workspace}", "{output_dir}"])
    agent_env = (
        env if env is not None else {"FAST_AGENT_SLEEP": str(sleep_s), "FAST_AGENT_WRITE": "1"}
    )
    lines = ["workers:"]
    for worker in ("planner", *ROLES.values()):
        lines += [
            f"  {worker}:",
            f"    role: {worker}",
            "    agent: command",
            "    runtime: process",
            f"    command: {command}",
            "    timeout: 300",
            f"    env: {json.dumps(agent_env)}",
        ]
    lines += [
        "workflows:",
        "  infinite_orchestra:",
        "    max_tasks_per_cycle: 100",
        f"    parallel: {parallel}",
        "    dispatch: pool",
        f"    pool: {POOL}",
        "  roocode_boomerang:",
        "    steps:",
        *[f"      - {{id: {s}, worker: {w}, when: always}}" for s, w in ROLES.items()],
        "git:",
        f"  remote: file://{remote}",
        *git_lines,
        "limits:",
        "  task_wall_clock: 600",
    ]
    (root / "orchestra.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "README.md").write_text("# pool\n", encoding="utf-8")
    for name, text in (files or {}).items():
        (root / name).write_text(text, encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", "init")
    return root


def queue(root: Path, names: list[str]) -> None:
    """Task files ``<name>.md`` in the project's queue."""
    folder = root / ".orchestra" / "queue"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.md").write_text(
            f"---\ntitle: Pool {name}\n---\n\n## Goal\n\nWrite fast-agent.txt ({name}).\n\n"
            "## Acceptance criteria\n\n- a handoff\n",
            encoding="utf-8",
        )


def start_cycle(root: Path, api: str) -> subprocess.Popen[str]:
    """`python -m flows.run` on ``root`` against the cluster's server, in the background."""
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(root.parent / "prefect-home")}
    env.pop("PREFECT_API_KEY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "flows.run", "--project", str(root)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float) -> str:
    """Wait for a cycle; its output."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        _keep(f"cycle-{time.strftime('%H%M%S')}-timeout.out", out)
        msg = f"cycle did not end within {timeout} s:\n{out[-4000:]}"
        raise AssertionError(msg) from None
    _keep(f"cycle-{time.strftime('%H%M%S')}.out", out)
    return out


def last_cycle(root: Path, output: str = "") -> dict[str, Any]:
    """The newest cycle.json of the project (``output``: the cycle's, shown when there is none)."""
    found = sorted((root / ".orchestra" / "runs").glob("*/cycle.json"), key=os.path.getmtime)
    assert found, f"no cycle.json written; the cycle said:\n{output[-4000:]}"
    data: dict[str, Any] = json.loads(found[-1].read_text(encoding="utf-8"))
    return data


def remote_branches(remote: Path) -> set[str]:
    """Task ids with an ``orchestra/<id>`` branch on the remote."""
    out = git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads/orchestra/")
    return {line.removeprefix("orchestra/") for line in out.splitlines()}


def running_on(cluster: Cluster, api: str, name: str, deadline_s: float = 120) -> str:
    """The hostname of the worker whose flow run ``name`` is Running (waits for it)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        resp = httpx.post(
            f"{api}/flow_runs/filter",
            json={
                "flow_runs": {"name": {"any_": [name]}, "state": {"type": {"any_": ["RUNNING"]}}}
            },
            timeout=5,
        )
        if resp.status_code == 200 and resp.json():
            for host, container in cluster.workers.items():
                if "fast_agent.py" in docker("top", container, "-eo", "pid,args", check=False):
                    return host
        time.sleep(0.5)
    raise AssertionError(f"flow run {name} was not seen running on a worker within {deadline_s} s")

"""docs/quickstart-real.md, run as written: the page's ``bash`` blocks, in order, in one shell,
as root (as CI runs) and as a user who is not root, each on a repository of their own; and the
page's Claude Code and Codex variants, as root, against their own stand-in APIs.

What the test gives, as a user would: the three values of the first block that are the
user's (their repository, their model API's URL, their key), a ``HOME`` of that user's, and a
Compose project name and server port of the test's own (this machine is shared). Every other
line runs as the page has it: ``ORCHESTRA_UID=$(id -u)``, no ``EXTRA_CA_CERTS`` (the builds take
the CA configuration this machine has: it inspects TLS), no git settings, no ``chown``.

The model API is the stand-in (nothing else is reachable), run as a process of its own that the
page's ``OPENAI_API_BASE`` points at, on loopback and the Docker bridge, as the page asks of a
local endpoint. Where no registry is reachable, the page's last block says to run it before
``make stack-up``: its exports run there; its ``make images`` is what ``make test`` ran before
the tests (it builds the same images, and here it would replace images other runs share).

As a user who is not root, the page runs in a fresh clone of their own (``git clone`` of this
one): its ``make venv`` makes their virtualenv with the system's Python.

After the page's first cycle, and before its last block, the user does what comes next
(``NEXT_STEPS``): commits ``orchestra.yaml`` as ``orchestra init`` said, queues a second task,
and starts a cycle the way the schedule does (idle-gated): it runs, and writes its branch.

The history case (``test_quickstart_real_history``, as root) runs the same page on a clone of
a public project with history, more-itertools rebuilt from three PyPI releases
(``support.real_history``), with the stand-in adding its ``totient`` recipe: the first cycle and,
after the user commits ``orchestra.yaml``, one scheduled cycle each write a result branch whose
diff is the change and on which the project's own suite passes.

Checked: the script ends with success; the queued task is archived and its result branch holds
the change; the preflight probed the API with the key; the schedule was switched on and then
paused by ``orchestra stop``; the stack is taken down with its volumes even when the test fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.chat_api import docker_bridge_ip
from support.compose_stack import REPO, WORKER_IMAGE, compose_tool, free_port, stack_down
from support.messages_api import MessagesAPI
from support.real_agent import API_KEY, TASK, enqueue, make_repo
from support.real_clis import CLAUDE_KEY, CODEX_KEY, claude_env, codex_env
from support.real_history import CHANGED as HISTORY_CHANGED
from support.real_history import FOLLOW_UP as HISTORY_FOLLOW_UP
from support.real_history import TASK as HISTORY_TASK
from support.real_history import VERIFY as HISTORY_VERIFY
from support.real_history import edited, make_history_repo
from support.real_sessions import claude_session, codex_session
from support.responses_api import ResponsesAPI
from support.standin_process import read_log

# One xdist worker runs them one after another: the root cases run the page in this very
# clone (its `make venv`, its images), which two at once would race over.
pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.xdist_group("quickstart")]

DOC = REPO / "docs" / "quickstart-real.md"
#: What the page's first block must set, and nothing else.
SETTINGS = {
    "ORCHESTRA_PROJECT",
    "OPENAI_API_BASE",
    "OPENAI_API_KEY",
    "ORCHESTRA_UID",
    "ORCHESTRA_GID",
    "ORCHESTRA_MEMORY__BACKEND",
}
#: The first block's lines whose values are the user's own.
USERS_OWN = ("ORCHESTRA_PROJECT", "OPENAI_API_BASE", "OPENAI_API_KEY")
#: The "Without a registry" block.
OFFLINE_BLOCK = "make images"
#: Where the pinned sdists of the history case are kept between runs.
SDIST_CACHE = REPO / ".venv" / "cache" / "sdists"
#: A user who is not root (no passwd entry needed); the Docker socket's group is added.
USER_UID = 4321


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def exported(block: str) -> set[str]:
    return set(re.findall(r"(?:export\s+|\s)([A-Z][A-Z0-9_]*)=", " " + block))


def with_users_values(block: str, values: dict[str, str]) -> str:
    """The first block as the user fills it in: the value after ``NAME=`` on its own line."""
    lines = []
    for line in block.splitlines():
        filled = line
        for name, value in values.items():
            filled = re.sub(rf"^export {name}=\S*", f"export {name}={value}", filled)
        lines.append(filled)
    return "\n".join(lines) + "\n"


def missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@dataclass
class User:
    """Who runs the page: uid, gid, the extra groups, and a home of theirs."""

    uid: int
    gid: int
    groups: list[int]
    home: Path

    def command(self, script: str) -> list[str]:
        if self.uid == os.getuid():
            return ["bash", "-c", script]
        groups = ",".join(str(g) for g in self.groups) or str(self.gid)
        setpriv = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", f"--groups={groups}"]
        return [*setpriv, "bash", "-c", script]

    def clone(self) -> Path:
        """The Orchestra clone the page runs in: this one for whoever runs the test; for
        another user a fresh clone of their own (this one's virtualenv is not theirs to run)."""
        if self.uid == os.getuid():
            return REPO
        clone = self.home / "orchestra"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        self.own(clone)
        return clone

    def path(self) -> str:
        """PATH without folders only root can enter (pyenv under /root)."""
        if self.uid == os.getuid():
            return os.environ["PATH"]
        kept = [p for p in os.environ["PATH"].split(":") if p and not p.startswith("/root")]
        return ":".join(kept)

    def own(self, path: Path) -> None:
        if self.uid == os.getuid():
            return
        for item in [path, *path.rglob("*")]:
            os.lchown(item, self.uid, self.gid)


@dataclass
class StandIn:
    url: str
    log: Path


def git(repo: Path, *args: str) -> str:
    """The test's own reading of the user's repository (which may be another uid's)."""
    done = subprocess.run(
        ["git", "-c", f"safe.directory={repo}", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def place() -> Iterator[Path]:
    """A folder any user can reach (the test's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="orch22-quick-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def standin_process(place: Path, script: str) -> Iterator[StandIn]:
    """The stand-in model API, a process of its own on loopback and the Docker bridge, playing
    ``script`` (``support.standin_process --script``)."""
    ip = docker_bridge_ip()
    if ip is None:
        missing("no docker0 bridge: Docker is needed for this test")
    ready, log = place / "standin.url", place / "standin.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "support.standin_process", "--hosts", f"127.0.0.1,{ip}",
         "--key", API_KEY, "--ready", str(ready), "--log", str(log), "--script", script],
        env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, "the stand-in model API exited"
            assert time.monotonic() < deadline, "the stand-in model API did not start"
            time.sleep(0.1)
        yield StandIn(ready.read_text(encoding="utf-8"), log)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def standin(place: Path) -> Iterator[StandIn]:
    """The stand-in playing the calc task (AiderScript)."""
    with standin_process(place, "calc") as api:
        yield api


def make_user(kind: str, place: Path) -> User:
    home = place / "home"
    home.mkdir()
    if kind == "root":
        if os.getuid() != 0:
            missing("the root case runs as root (as CI does)")
        return User(0, 0, [], home)
    if os.getuid() != 0:
        # Already not root: the page runs as this user.
        return User(os.getuid(), os.getgid(), os.getgroups(), home)
    docker_gid = Path("/var/run/docker.sock").stat().st_gid
    user = User(USER_UID, USER_UID, [USER_UID, docker_gid], home)
    home.chmod(0o755)
    return user


def user_repo(user: User, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ "Your repository" in the user's home: history (committed two hours ago), tests, one task
    queued, no orchestra.yaml (the page's `orchestra init` writes it), owned by the user."""
    monkeypatch.setenv("GIT_AUTHOR_DATE", "@" + str(int(time.time()) - 7200))
    monkeypatch.setenv("GIT_COMMITTER_DATE", os.environ["GIT_AUTHOR_DATE"])
    project = make_repo(user.home / "src" / "myrepo", {})
    git(project, "rm", "-q", "orchestra.yaml")
    git(project, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qm", "-")
    monkeypatch.delenv("GIT_AUTHOR_DATE")
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    enqueue(project)
    # The user's second task, queued after the first cycle (NEXT_STEPS), and their git identity.
    second = TASK.replace("task-01", "task-02").replace("title: Fix add", "title: Fix add again")
    (project / ".orchestra" / "next-task.md").write_text(second, encoding="utf-8")
    (user.home / ".gitconfig").write_text(
        "[user]\n\tname = Dev\n\temail = dev@example.com\n", encoding="utf-8"
    )
    user.own(user.home)
    return project


#: What the user does next, between the page's first cycle and `orchestra stop`: commit
#: orchestra.yaml (the command `orchestra init` printed), queue a second task, and let a cycle
#: run as the schedule starts it (the deployment's own parameters: scheduled, so idle-gated).
#: Orchestra's own files are not the user's activity: the cycle runs, it does not skip.
NEXT_STEPS = """
git -C "$ORCHESTRA_PROJECT" add orchestra.yaml && git -C "$ORCHESTRA_PROJECT" commit -m 'Add orchestra.yaml'
cp "$ORCHESTRA_PROJECT/.orchestra/next-task.md" "$ORCHESTRA_PROJECT/.orchestra/queue/task-02.md"
.venv/bin/prefect deployment run infinite-orchestra/infinite-orchestra --watch
"""


def worker_log(client: Any, name: str) -> str:
    """The end of the stack's worker log (what a failed cycle said), for a failed page run."""
    for container in (f"{name}_orchestra-worker_1", f"{name}-orchestra-worker-1"):
        try:
            tail = client.containers.get(container).logs(tail=150).decode("utf-8", "replace")
        except Exception:
            continue
        return f"\n--- the stack's worker log ({container}) ---\n{tail}"
    return "\n(no worker log: the stack's worker container is gone)"


def page_script(values: dict[str, str]) -> str:
    """The page's blocks, in order, the offline exports before the build (as the page says);
    the user's next steps before the last block."""
    blocks = bash_blocks(DOC.read_text(encoding="utf-8"))
    settings, build, deploy, stop, offline = blocks
    offline_exports = "\n".join(
        line for line in offline.splitlines() if not line.startswith(OFFLINE_BLOCK)
    )
    return "\n".join(
        ["set -euo pipefail", with_users_values(settings, values), offline_exports, build,
         deploy, NEXT_STEPS, stop]
    )  # fmt: skip


def test_page_blocks() -> None:
    """The page opens with the settings block and ends with the offline one."""
    blocks = bash_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 5, blocks
    assert exported(blocks[0]) == SETTINGS
    assert "ORCHESTRA_UID=$(id -u) ORCHESTRA_GID=$(id -g)" in blocks[0]
    assert blocks[-1].startswith(OFFLINE_BLOCK)
    assert exported(blocks[-1]) == {"ORCHESTRA_BASE_IMAGE", "PREFECT_SERVER_IMAGE"}
    filled = with_users_values(blocks[0], {n: f"<{n}>" for n in USERS_OWN})
    for name in USERS_OWN:
        assert f"export {name}=<{name}>" in filled


@pytest.mark.timeout(2400)
@pytest.mark.parametrize("kind", ["root", "user"])
def test_quickstart_real_runs_as_written(
    kind: str,
    place: Path,
    standin: StandIn,
    docker_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if compose_tool() is None:
        missing("neither `docker compose` nor `docker-compose` is installed")
    docker_client.images.get(WORKER_IMAGE)  # `make worker-image` below is then a no-op
    user = make_user(kind, place)
    repo = user_repo(user, monkeypatch)
    name = f"orch22-quick-{kind}-{uuid.uuid4().hex[:6]}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "ORCHESTRA_", "GIT_", "OPENAI_")) and k != "EXTRA_CA_CERTS"
    }
    clone = user.clone()
    env.update(
        HOME=str(user.home), PATH=user.path(), STACK_PROJECT=name, PREFECT_PORT=str(free_port())
    )
    values = {
        "ORCHESTRA_PROJECT": str(repo),
        "OPENAI_API_BASE": standin.url,  # 127.0.0.1: steps reach it through the bridge
        "OPENAI_API_KEY": API_KEY,
    }
    try:
        done = subprocess.run(
            user.command(page_script(values)),
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=2100,
            check=False,
        )
        output = done.stdout[-8000:] + done.stderr[-8000:]
        assert done.returncode == 0, output + worker_log(docker_client, name)
    finally:
        stack_down(name, env, docker_client)
    # The first cycle: the queued task archived, its branch holds the fix.
    assert list((repo / ".orchestra" / "done").glob("task-01-*.md")), output
    assert git(repo, "diff", "--name-only", "main...orchestra/task-01") == "calc.py"
    assert "return a + b" in git(repo, "show", "orchestra/task-01:calc.py")
    requests = read_log(standin.log)
    roles = [r["role"] for r in requests if "role" in r]
    assert roles[:2] == ["architect", "coder"], requests
    # The preflight probed the API the way the steps reach it, with the key.
    probes = [r for r in requests if r["method"] == "GET" and r["path"].endswith("/models")]
    assert probes, requests
    assert all(r["authorization"] == f"Bearer {API_KEY}" for r in probes)
    # The schedule was switched on, then `orchestra stop` paused it.
    assert "Resumed" in done.stdout or "resumed" in done.stdout, output
    assert "paused" in done.stdout.lower(), output
    assert (repo / ".orchestra" / "STOP").exists()
    # After the user committed orchestra.yaml, the idle-gated cycle ran (not skipped): its
    # task archived, its result branch written.
    assert list((repo / ".orchestra" / "done").glob("task-02-*.md")), output
    assert git(repo, "diff", "--name-only", "main...orchestra/task-02") == "calc.py"
    assert git(repo, "log", "-1", "--format=%s", "main") == "Add orchestra.yaml"
    # Everything the stack wrote in the repository is the user's.
    owners = {p.stat().st_uid for p in (repo / ".orchestra").rglob("*")}
    assert owners == {user.uid}, owners


def variant_script(variant: str, values: dict[str, str]) -> str:
    """The page's Claude Code or Codex variant as a user runs it: its own steps 1 and 2
    (```` ```bash <variant> ````) in place of the first two blocks, then steps 3 and 4, the
    offline exports before the build as the page says."""
    text = DOC.read_text(encoding="utf-8")
    own = re.findall(rf"^```bash {variant}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    assert len(own) == 2, own
    settings, build = own
    _, _, deploy, stop, offline = bash_blocks(text)
    offline_exports = "\n".join(
        line for line in offline.splitlines() if not line.startswith(OFFLINE_BLOCK)
    )
    return "\n".join(
        ["set -euo pipefail", with_users_values(settings, values), offline_exports, build,
         deploy, stop]
    )  # fmt: skip


@pytest.mark.timeout(2400)
@pytest.mark.parametrize("variant", ["claude", "codex"])
def test_quickstart_variant_runs_as_written(
    variant: str, place: Path, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Claude Code and the Codex variants of the page, as written (as root, as CI runs),
    each against its own stand-in API (Messages, Responses) on loopback and the bridge: the
    first cycle archives the task, the preflight probed the API, the roles ran in order."""
    if compose_tool() is None:
        missing("neither `docker compose` nor `docker-compose` is installed")
    ip = docker_bridge_ip()
    if ip is None:
        missing("no docker0 bridge: Docker is needed for this test")
    docker_client.images.get(WORKER_IMAGE)
    user = make_user("root", place)
    repo = user_repo(user, monkeypatch)
    name = f"orch17-quick-{variant}-{uuid.uuid4().hex[:6]}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "ORCHESTRA_", "GIT_", "OPENAI_", "ANTHROPIC_"))
        and k != "EXTRA_CA_CERTS"
    }
    env.update(HOME=str(user.home), STACK_PROJECT=name, PREFECT_PORT=str(free_port()))
    hosts = ("127.0.0.1", ip)
    session = claude_session() if variant == "claude" else codex_session()
    api: Any = (
        MessagesAPI(session, hosts=hosts, api_key=CLAUDE_KEY)
        if variant == "claude"
        else ResponsesAPI(session, hosts=hosts, api_key=CODEX_KEY)
    )
    with api:
        own = claude_env(api) if variant == "claude" else codex_env(api)
        values = {"ORCHESTRA_PROJECT": str(repo), **own}
        try:
            done = subprocess.run(
                user.command(variant_script(variant, values)),
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=2100,
                check=False,
            )
            output = done.stdout[-8000:] + done.stderr[-8000:]
            assert done.returncode == 0, output + worker_log(docker_client, name)
        finally:
            stack_down(name, env, docker_client)
    assert list((repo / ".orchestra" / "done").glob("task-01-*.md")), output
    assert git(repo, "diff", "--name-only", "main...orchestra/task-01") == "calc.py"
    assert session.roles[:2] == ["architect", "coder"]
    probes = [e for e in api.exchanges if e.method == "GET" and e.path.endswith("/models")]
    assert probes, [e.path for e in api.exchanges]


def history_repo(user: User, place: Path) -> Path:
    """ "Your repository" as a clone of a public project with history: more-itertools, its
    upstream rebuilt from three PyPI releases (support.real_history), cloned into the user's
    home; one task queued, the second one ready for NEXT_STEPS, the user's git identity."""
    upstream = make_history_repo(place / "upstream" / "more-itertools", SDIST_CACHE)
    project = user.home / "src" / "more-itertools"
    project.parent.mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", str(upstream), str(project)], check=True)
    enqueue(project, HISTORY_TASK)
    second = HISTORY_TASK.replace("task-01", "task-02")
    (project / ".orchestra" / "next-task.md").write_text(second, encoding="utf-8")
    (user.home / ".gitconfig").write_text(
        "[user]\n\tname = Dev\n\temail = dev@example.com\n", encoding="utf-8"
    )
    user.own(user.home)
    return project


def suite_result_on(repo: Path, branch: str, into: Path) -> subprocess.CompletedProcess[str]:
    """The project's own suite (the verify gate's command) on ``branch``'s tree, exported."""
    into.mkdir()
    archive = subprocess.run(
        ["git", "-c", f"safe.directory={repo}", "archive", branch],
        cwd=repo, capture_output=True, check=True,
    )  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    check = "import more_itertools as m; assert (m.totient(9), m.totient(1)) == (6, 1)"
    return subprocess.run(
        ["sh", "-c", f"{HISTORY_VERIFY} && python3 -c '{check}'"],
        cwd=into, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.timeout(2400)
def test_quickstart_real_history(
    place: Path, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page as written (as root, as CI runs it) on a clone of a public project with
    history, more-itertools: the first cycle's result branch holds the agent's change; the
    user commits orchestra.yaml; one scheduled (idle-gated) cycle really runs and writes its
    result branch, whose diff is the change and whose tests pass."""
    if compose_tool() is None:
        missing("neither `docker compose` nor `docker-compose` is installed")
    docker_client.images.get(WORKER_IMAGE)
    user = make_user("root", place)
    repo = history_repo(user, place)
    upstream_head = git(repo, "rev-parse", "main")
    assert git(repo, "tag", "--list").split() == ["v10.0.0", "v10.1.0", "v9.1.0"]
    name = f"orch22-quick-history-{uuid.uuid4().hex[:6]}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "ORCHESTRA_", "GIT_", "OPENAI_")) and k != "EXTRA_CA_CERTS"
    }
    env.update(HOME=str(user.home), STACK_PROJECT=name, PREFECT_PORT=str(free_port()))
    with standin_process(place, "totient") as standin:
        values = {
            "ORCHESTRA_PROJECT": str(repo),
            "OPENAI_API_BASE": standin.url,
            "OPENAI_API_KEY": API_KEY,
        }
        try:
            done = subprocess.run(
                user.command(page_script(values)),
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=2100,
                check=False,
            )
            output = done.stdout[-8000:] + done.stderr[-8000:]
            assert done.returncode == 0, output + worker_log(docker_client, name)
        finally:
            stack_down(name, env, docker_client)
        requests = read_log(standin.log)
    # Both cycles ran the whole workflow against the stand-in: plan, implement, approve (aider
    # may ask again within a step once it has added the files a reply named).
    roles = [r["role"] for r in requests if "role" in r]
    asked = [r for r in roles if not r.endswith(HISTORY_FOLLOW_UP)]
    assert asked == ["architect", "coder", "reviewer"] * 2, roles
    assert "" not in roles, roles
    # The user's history is upstream's plus their commit of orchestra.yaml, nothing else.
    assert git(repo, "log", "--format=%s", "main") .splitlines() == [
        "Add orchestra.yaml", "more-itertools 10.1.0", "more-itertools 10.0.0",
        "more-itertools 9.1.0",
    ]  # fmt: skip
    assert git(repo, "rev-parse", "main~1") == upstream_head
    # Each cycle archived its task and wrote its result branch: the change, on upstream's
    # tip; the scheduled one ran after the commit of orchestra.yaml, not skipped.
    for task in ("task-01", "task-02"):
        assert list((repo / ".orchestra" / "done").glob(f"{task}-*.md")), output
        branch = f"orchestra/{task}"
        assert git(repo, "diff", "--name-only", f"main...{branch}").split() == HISTORY_CHANGED
        for path in HISTORY_CHANGED:
            before = git(repo, "show", f"main:{path}") + "\n"
            assert git(repo, "show", f"{branch}:{path}") + "\n" == edited(path, before), path
        suite = suite_result_on(repo, branch, place / f"tree-{task}")
        assert suite.returncode == 0, suite.stdout + suite.stderr
    assert (repo / ".orchestra" / "STOP").exists()

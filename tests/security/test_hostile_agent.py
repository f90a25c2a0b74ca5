"""The hostile-agent suite: one attack per test, by a real executable, on the Docker runtime
and on the process runtime where the attack applies there.

For every attack: the user's repository passes `git fsck --strict`; its refs are unchanged
except orchestra/<task-id>; its working tree, index, HEAD and config are byte for byte the same;
host files outside the task are untouched; the task ends with a reason; nothing is left running.
docs/security.md lists these attacks and their results.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from hostile_support import BRANCH, SECRET, Scene, git

pytestmark = pytest.mark.slow

GIT_ATTACKS = [
    "commondir",
    "head",
    "refs",
    "alternates",
    "filters",
    "hooks",
    "fsmonitor",
    "config-commands",
]


@pytest.fixture
def runtime(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "docker":
        request.getfixturevalue("docker_ready")
    return name


@pytest.mark.parametrize("runtime", ["docker", "process"], indirect=True)
@pytest.mark.parametrize("attack", GIT_ATTACKS)
def test_git_metadata(scene: Scene, runtime: str, attack: str) -> None:
    """Planted git metadata in the agent's .git is never read by the host's git."""
    arg = str(scene.project / ".git") if attack == "commondir" else str(scene.marker)
    attempt = scene.run(runtime, attack, arg)
    attempt.assert_contained(result_expected=True)
    # the committed tree is the agent's work only, its .git never part of it
    files = git(scene.project, "ls-tree", "-r", "--name-only", BRANCH).splitlines()
    assert ".git" not in {f.split("/")[0] for f in files}


@pytest.mark.parametrize("runtime", ["docker", "process"], indirect=True)
def test_object_rewrite(scene: Scene, runtime: str) -> None:
    """Rewriting every file of its .git (once hard links into the user's store) changes nothing;
    in Docker the user's objects are read-only (EROFS: errno 30)."""
    # A process agent runs as the user and could write the user's store directly: trusted only.
    attack_arg = "" if runtime == "docker" else "own-only"
    attempt = scene.run(runtime, "object-rewrite", attack_arg)
    attempt.assert_contained(result_expected=True)
    probes = attempt.probes()
    if runtime == "docker":
        assert probes["rewrite-user-object"] == "refused:30"
        assert probes["add-user-object"] == "refused:30"


@pytest.mark.parametrize("runtime", ["docker", "process"], indirect=True)
def test_symlinks_out_of_workspace_and_output(scene: Scene, runtime: str) -> None:
    """Links to host files are committed as links, never followed; output-folder links are
    neither read (handoff) nor written through (result.json)."""
    secret = scene.host / "secret.txt"
    attempt = scene.run(runtime, "symlinks", str(secret))
    attempt.assert_contained(result_expected=True)
    assert git(scene.project, "cat-file", "-p", f"{BRANCH}:leak.txt") == str(secret)
    grep = git(scene.project, "log", "-p", "--all", "--format=%H")
    assert SECRET not in grep
    assert all(SECRET not in s.handoff.summary for s in attempt.outcome.steps)


def test_writing_through_every_mount(scene: Scene, docker_ready: None) -> None:
    """Only the workspace and the output folder are writable; objects, the agent's own mount
    and the image's system folders are not."""
    attempt = scene.run("docker", "mounts")
    attempt.assert_contained(result_expected=True)
    probes = attempt.probes()
    assert probes["write-/workspace"] == "ok"
    assert probes["write-/orchestra/out"] == "ok"
    for root in ("/orchestra/objects", "/orchestra/agent"):
        assert probes[f"write-{root}"] == "refused:30", probes
    for root in ("/", "/etc", "/usr"):
        assert probes[f"write-{root}"] == "refused:13", probes  # not root in the container
    assert not list(scene.project.glob(".git/objects/planted-by-agent"))


@pytest.mark.parametrize("runtime", ["docker", "process"], indirect=True)
def test_large_output(scene: Scene, runtime: str) -> None:
    """64 MiB on stdout and a 32 MiB file: output capture stays bounded, the task ends."""
    attempt = scene.run(runtime, "large-output")
    attempt.assert_contained(result_expected=False)
    assert attempt.outcome.status in ("done", "failed")
    assert len(attempt.tail) < 100_000


def test_fork_bomb(scene: Scene, docker_ready: None) -> None:
    """The pids limit stops a fork bomb; the step fails with its exit code; nothing is left."""
    attempt = scene.run("docker", "fork-bomb")
    attempt.assert_contained(result_expected=False)
    assert attempt.outcome.status == "failed"
    assert "exit code 3" in attempt.outcome.reason
    assert "fork-limited" in attempt.probes()


def test_memory_bomb(scene: Scene, docker_ready: None) -> None:
    """The memory limit kills a memory bomb (exit 137); the task fails saying so."""
    attempt = scene.run("docker", "memory-bomb", mem_limit="128m")
    attempt.assert_contained(result_expected=False)
    assert attempt.outcome.status == "failed"
    assert "exit code 137" in attempt.outcome.reason


@pytest.mark.parametrize("runtime", ["docker", "process"], indirect=True)
def test_host_environment_and_proc(
    scene: Scene, runtime: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret in the orchestrator's environment is not in the agent's; in Docker not even
    through /proc (a process agent can read /proc of its own user: trusted only)."""
    monkeypatch.setenv("ORCH10_HOST_SECRET", SECRET)
    attempt = scene.run(runtime, "env", SECRET)
    attempt.assert_contained(result_expected=True)
    probes = attempt.probes()
    assert probes["env-has-secret"] == "False"
    if runtime == "docker":
        assert probes["proc-has-secret"] == "False"


def test_docker_socket(scene: Scene, docker_ready: None) -> None:
    """The Docker socket is not reachable from a step (errno 2: not there)."""
    attempt = scene.run("docker", "docker-socket")
    attempt.assert_contained(result_expected=True)
    assert set(attempt.probes().values()) == {"refused:2"}


def test_network_none_reaches_nothing(scene: Scene, docker_ready: None) -> None:
    """With network: none the host's listener on every address gets no connection."""
    listener = socket.socket()
    listener.bind(("0.0.0.0", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        attempt = scene.run("docker", "network", f"127.0.0.1:{port}")
    finally:
        stop.set()
        thread.join(2)
        listener.close()
    attempt.assert_contained(result_expected=True)
    assert accepted == []
    assert all(v.startswith("refused") for v in attempt.probes().values()), attempt.probes()


def test_the_agent_is_a_real_file() -> None:
    """The suite's agent is an executable script, not an in-process stand-in."""
    agent = Path(__file__).with_name("hostile_agent.py")
    assert agent.stat().st_mode & 0o111


class _Listener:
    """A TCP server of ours on every host address that records who connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[object] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def test_default_network_lets_out_only_the_allowlist(scene: Scene, docker_ready: None) -> None:
    """A Docker step on the default network (egress) reaches an allowed host:port through the
    proxy, and nothing else: a direct connection that ignores the proxy finds no route, and the
    proxy refuses a denied port, a host off the list and a name that resolves to a private
    range (matched only by a wildcard) with 403, at once."""
    allowed, denied = _Listener(), _Listener()
    try:
        attempt = scene.run(
            "docker",
            "egress",
            f"{allowed.port}:{denied.port}",
            network="egress",
            egress_allow=[f"host.docker.internal:{allowed.port}", "*.docker.internal"],
        )
    finally:
        allowed.close()
        denied.close()
    attempt.assert_contained(result_expected=True)
    probes = attempt.probes()
    assert probes["proxy"] == "http://orchestra-egress:3128", probes
    assert probes["proxy-allowed"] == "ok", probes
    for refused in ("proxy-denied-port", "proxy-private-range", "proxy-other-host"):
        assert probes[refused] == "refused:403", probes
    for direct in ("direct-host.docker.internal", "direct-172.17.0.1"):
        assert probes[direct].startswith("refused"), probes
    assert len(allowed.accepted) == 1  # the proxy's own connection for the allowed CONNECT
    assert denied.accepted == []


def test_bridge_network_is_an_explicit_opt_out(scene: Scene, docker_ready: None) -> None:
    """`network: bridge` is still Docker's own, unfiltered (and doctor warns about it): the
    step reaches the host's listener directly. The attack the default now stops."""
    listener = _Listener()
    try:
        attempt = scene.run("docker", "network", f"127.0.0.1:{listener.port}", network="bridge")
    finally:
        listener.close()
    attempt.assert_contained(result_expected=True)
    assert attempt.probes()["connect-host.docker.internal"] == "ok", attempt.probes()

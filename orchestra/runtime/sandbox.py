"""Sandbox policy for Docker steps: pure functions, testable without a Docker engine.

Everything the Docker runtime sends to the engine is decided here, from a :class:`StepRequest`
and the worker's :class:`DockerConfig`:

- **Mounts**: the workspace (or ``mount.source``) at ``mount.target``, read-only when the role
  says so (or ``mount.read_only`` forces it either way); the step's output folder read-write at
  :data:`CONTAINER_OUTPUT_DIR`; extra ``volumes`` as bind mounts. No mount may expose the Docker
  socket (the socket itself, a folder holding it, any ``docker.sock``): an agent with the socket
  owns the host, so that is a :class:`SandboxPolicyError`, whatever the profile says.
- **Env**: only ``request.env`` plus ``HOME=/tmp``; host ``PATH``/``HOME`` passed through
  unchanged are dropped (they name host folders).
- **Paths**: host paths of the mounted folders in argv and env values are rewritten to their
  container paths (:func:`container_paths`, :func:`rewrite_paths`).
- **Loopback**: env values naming the host loopback (``localhost``, ``127.x.x.x``, ``[::1]``, as
  a bare host, ``host:port`` or in a URL) are rewritten to ``bridge_host``, except with network
  ``host`` (the loopback is the host's) and in ``NO_PROXY``/``no_proxy`` (a list of exemptions).
- **Defaults**: the host user's uid:gid (a dedicated one when that is root), all capabilities dropped, no-new-privileges, an init
  process (signals reach the agent, zombies are reaped), pids/memory/cpu limits, ``HOME=/tmp``,
  labels for clean-up, ``host.docker.internal`` → host-gateway. No port is ever published.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestra.config.runtimes import DockerConfig
from orchestra.errors import AgentError, ConfigError, SandboxPolicyError
from orchestra.paths import HOST_PATH_MAP_ENV, engine_side_path, host_text  # noqa: F401 - re-exported
from orchestra.runtime.base import (
    LABEL_MANAGED,
    LABEL_PREFIX,
    LABEL_PROJECT,
    LABEL_RUN,
    LABEL_STEP,
    StepRequest,
)
from orchestra.runtime.ownership import step_user

#: Where the step's output folder appears inside the container.
CONTAINER_OUTPUT_DIR = "/orchestra/out"
#: Where the user's git objects appear, read-only, for the agent's own `.git` to borrow.
CONTAINER_OBJECTS_DIR = "/orchestra/objects"
#: HOME inside the container: always writable (a tmpfs when the root filesystem is read-only).
CONTAINER_HOME = "/tmp"  # noqa: S108 - a path inside the container, not a host temp file
#: The Docker engine's usual local addresses.
DEFAULT_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
DEFAULT_ENGINE_ADDRESS = "unix:///var/run/docker.sock"
#: The network mode of a step behind the egress proxy (:mod:`orchestra.runtime.egress`); the
#: runtime creates the step's own network and puts its name in place of this.
EGRESS_NETWORK = "egress"
#: The name every container gets for the host (mapped to the engine's host-gateway).
HOST_GATEWAY_NAME = "host.docker.internal"


#: Env keys whose values are host lists *not* to proxy: rewriting them would proxy localhost.
_NO_LOOPBACK_REWRITE = frozenset({"NO_PROXY", "no_proxy"})
#: Env keys whose host values mean nothing in the image.
_HOST_ONLY = frozenset({"PATH", "HOME"})
_LOOPBACK = re.compile(
    r"(?<![\w.-])(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?![\w-]|\.\w)", re.IGNORECASE
)
_NAME_UNSAFE = re.compile(r"[^a-z0-9_.-]+")


def engine_address(cfg: DockerConfig, environ: Mapping[str, str] | None = None) -> str:
    """The engine address the client uses: ``base_url``, else DOCKER_HOST, else the socket."""
    environ = os.environ if environ is None else environ
    return cfg.base_url or environ.get("DOCKER_HOST") or DEFAULT_ENGINE_ADDRESS


def host_user() -> str:
    """The current user's ``uid:gid``, so files written in the workspace stay theirs."""
    return f"{os.getuid()}:{os.getgid()}"


def docker_sockets(cfg: DockerConfig, environ: Mapping[str, str] | None = None) -> set[Path]:
    """Host paths of Docker sockets a mount must not expose (lexical and resolved)."""
    environ = os.environ if environ is None else environ
    candidates = [Path(p) for p in DEFAULT_SOCKETS]
    for address in (cfg.base_url, environ.get("DOCKER_HOST")):
        if address and address.startswith("unix://"):
            candidates.append(Path(address.removeprefix("unix://")))
    if runtime_dir := environ.get("XDG_RUNTIME_DIR"):  # rootless Docker
        candidates.append(Path(runtime_dir) / "docker.sock")
    return {p for c in candidates for p in (c, c.resolve())}


def refuse_docker_socket(host_path: Path, sockets: set[Path], what: str) -> None:
    """Raise SandboxPolicyError if mounting ``host_path`` would expose a Docker socket."""
    for path in {host_path, host_path.resolve()}:
        exposed = sorted(str(s) for s in sockets if s == path or path in s.parents)
        if exposed or _is_docker_socket_file(path):
            shown = exposed[0] if exposed else str(path)
            msg = (
                f"{what} {str(host_path)!r} would expose the Docker socket {shown!r} to the "
                "agent: a container with the socket can start privileged containers and owns "
                "the host. Mount a narrower folder; the socket is always refused"
            )
            raise SandboxPolicyError(msg)


def mount_source(request: StepRequest, cfg: DockerConfig) -> Path:
    """The host folder mounted at ``mount.target``: ``mount.source`` or the workspace."""
    if cfg.mount.source is None:
        return Path(request.workspace).absolute()
    source = Path(cfg.mount.source).expanduser()
    if not source.is_absolute():
        msg = f"runtime.mount.source {cfg.mount.source!r} must be an absolute host path"
        raise ConfigError(msg)
    return source


def container_paths(request: StepRequest, cfg: DockerConfig) -> dict[str, str]:
    """Host folder → container path, for every mounted folder the step may name.

    Keys include both the path as given and its resolved form (symlinks), so callers can
    render prompts with container paths. With ``mount.source`` set, the workspace maps to its
    place under the mount (or is absent when it is not under it).
    """
    source = mount_source(request, cfg)
    pairs = [(source, cfg.mount.target), (Path(request.output_dir), CONTAINER_OUTPUT_DIR)]
    workspace = Path(request.workspace).absolute()
    for host in (workspace, workspace.resolve()):
        for src in (source, source.resolve()):
            if host != src and host.is_relative_to(src):
                rel = host.relative_to(src).as_posix()
                pairs.append((host, f"{cfg.mount.target.rstrip('/')}/{rel}"))
    mapping: dict[str, str] = {}
    for host, target in pairs:
        absolute = host.absolute()
        for variant in (absolute, absolute.resolve()):
            mapping.setdefault(str(variant), target)
    return mapping


def rewrite_paths(value: str, paths: Mapping[str, str]) -> str:
    """Replace host folders (and paths under them) in ``value`` by their container paths.

    A folder matches only as a whole path component: ``/w/ws`` is rewritten in ``/w/ws/a``
    and ``--dir=/w/ws``, not in ``/w/ws2`` or ``/x/w/ws``. Longer folders win.
    """
    if not paths:
        return value
    ordered = sorted(paths, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(p) for p in ordered) + r")(?![\w.-])")
    return pattern.sub(lambda m: paths[m.group(1)], value)


def rewrite_loopback(value: str, bridge_host: str) -> str:
    """Replace the host loopback (localhost, 127.x.x.x, [::1]) in ``value`` by ``bridge_host``."""
    return _LOOPBACK.sub(bridge_host, value)


def container_env(
    request: StepRequest,
    cfg: DockerConfig,
    paths: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The container's environment: ``HOME`` plus ``request.env``, rewritten for the container.

    Nothing else from the host is passed. ``PATH`` and ``HOME`` passed through from the host
    (the same value as in ``environ``) are dropped: they name host folders, so the image's
    PATH and ``HOME=/tmp`` apply; any other value for them is kept. Errors name the key, never
    the value.
    """
    environ = os.environ if environ is None else environ
    env = {"HOME": CONTAINER_HOME}
    for key, value in request.env.items():
        if key in _HOST_ONLY and environ.get(key) == value:
            continue
        if not key or "=" in key or "\0" in key or "\0" in value:
            msg = (
                f"env key {key!r} of step {request.name!r} is not a valid variable name "
                "(or its value holds a NUL byte)"
            )
            raise ConfigError(msg)
        rewritten = rewrite_paths(value, paths)
        if cfg.network != "host" and key not in _NO_LOOPBACK_REWRITE:
            rewritten = rewrite_loopback(rewritten, cfg.bridge_host)
        env[key] = rewritten
    return env


def parse_volume(spec: str, sockets: set[Path]) -> dict[str, Any]:
    """Turn ``host:container[:ro|rw]`` into a bind mount; refuse the Docker socket."""
    parts = spec.split(":")
    mode = parts.pop() if len(parts) == 3 else "rw"
    if len(parts) != 2 or mode not in ("ro", "rw") or not all(parts):
        msg = f"runtime.volumes entry {spec!r} is not `host:container[:ro|rw]`"
        raise ConfigError(msg)
    host, target = Path(parts[0]).expanduser(), parts[1]
    if not host.is_absolute() or not target.startswith("/"):
        msg = (
            f"runtime.volumes entry {spec!r} needs absolute paths on both sides "
            "(named volumes are not supported)"
        )
        raise ConfigError(msg)
    refuse_docker_socket(host, sockets, "runtime.volumes entry")
    return _bind(host, target, read_only=mode == "ro")


def check_config(cfg: DockerConfig, environ: Mapping[str, str] | None = None) -> None:
    """Check the profile's own mounts (``volumes``, ``mount.source``) before any step runs."""
    sockets = docker_sockets(cfg, environ)
    for spec in cfg.volumes:
        parse_volume(spec, sockets)
    if cfg.mount.source is not None:
        source = Path(cfg.mount.source).expanduser()
        refuse_docker_socket(source, sockets, "runtime.mount.source")


def container_labels(request: StepRequest, project_id: str, run_id: str) -> dict[str, str]:
    """``orchestra.*`` labels: request labels (prefixed), step, project, run, managed."""
    labels = {LABEL_STEP: request.name}
    for key, value in request.labels.items():
        labels[key if key.startswith(LABEL_PREFIX) else LABEL_PREFIX + key] = str(value)
    labels.update({LABEL_PROJECT: project_id, LABEL_RUN: run_id, LABEL_MANAGED: "true"})
    return labels


def container_name(request: StepRequest, suffix: str) -> str:
    """A readable, valid container name: ``orchestra-<step>-<suffix>``."""
    slug = _NAME_UNSAFE.sub("-", request.name.lower()).strip("-._")[:40] or "step"
    return f"orchestra-{slug}-{suffix}"


def container_kwargs(
    request: StepRequest,
    cfg: DockerConfig,
    *,
    project_id: str,
    run_id: str,
    user: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create(**kwargs)`` (name not included).

    ``user`` is the default uid:gid when ``cfg.user`` is unset (default:
    :func:`orchestra.runtime.ownership.step_user`: the host user's, never root).
    The argv runs as given: its first item is the entrypoint, the image's own is bypassed.
    """
    argv = list(request.argv)
    if not argv:
        msg = f"step {request.name!r} has an empty argv: the agent adapter built no command"
        raise AgentError(msg)
    sockets = docker_sockets(cfg, environ)
    source = mount_source(request, cfg)
    output = Path(request.output_dir).absolute()
    refuse_docker_socket(source, sockets, "the workspace mount")
    refuse_docker_socket(output, sockets, "the output folder")
    read_only = cfg.mount.read_only
    if read_only is None:
        read_only = request.read_only_workspace
    mounts = [
        _bind(source, cfg.mount.target, read_only=read_only),
        _bind(output, CONTAINER_OUTPUT_DIR, read_only=False),
        *(parse_volume(spec, sockets) for spec in cfg.volumes),
    ]
    if request.objects_dir is not None:
        # Read-only: a step must never rewrite or add to the user's object store.
        objects = Path(request.objects_dir).absolute()
        refuse_docker_socket(objects, sockets, "the git objects mount")
        mounts.append(_bind(objects, CONTAINER_OBJECTS_DIR, read_only=True))
    targets = [m["Target"].rstrip("/") or "/" for m in mounts]
    if duplicates := sorted({t for t in targets if targets.count(t) > 1}):
        msg = (
            f"two mounts share the container path {duplicates[0]!r}: "
            "change runtime.volumes or runtime.mount.target"
        )
        raise ConfigError(msg)
    paths = container_paths(request, cfg)
    kwargs: dict[str, Any] = {
        "image": cfg.image,
        "entrypoint": [rewrite_paths(argv[0], paths)],
        "command": [rewrite_paths(arg, paths) for arg in argv[1:]],
        "environment": container_env(request, cfg, paths, environ),
        "user": cfg.user or user or step_user(cfg),
        "working_dir": cfg.workdir,
        "labels": container_labels(request, project_id, run_id),
        "mounts": mounts,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "init": True,
        "pids_limit": cfg.pids_limit,
        "mem_limit": cfg.mem_limit,
        "nano_cpus": int(cfg.cpus * 1e9),
        "read_only": cfg.read_only_rootfs,
        "network_mode": cfg.network,
        "stdin_open": request.stdin_path is not None,
    }
    if cfg.read_only_rootfs:
        # exec: HOME lives in /tmp and agents run tools they download there.
        kwargs["tmpfs"] = {CONTAINER_HOME: "rw,exec,nosuid,nodev"}
    if cfg.network not in ("host", EGRESS_NETWORK) and not cfg.network.startswith("container:"):
        kwargs["extra_hosts"] = {HOST_GATEWAY_NAME: "host-gateway"}
    return kwargs


def _bind(source: Path, target: str, *, read_only: bool) -> dict[str, Any]:
    """A bind mount in the engine's ``HostConfig.Mounts`` form (colons in paths are fine)."""
    return {
        "Type": "bind",
        "Source": engine_side_path(source),
        "Target": target,
        "ReadOnly": read_only,
    }


def _is_docker_socket_file(path: Path) -> bool:
    """``docker.sock`` anywhere, or a unix socket with ``docker`` in its name."""
    if path.name == "docker.sock":
        return True
    try:
        return stat.S_ISSOCK(path.stat().st_mode) and "docker" in path.name
    except OSError:
        return False

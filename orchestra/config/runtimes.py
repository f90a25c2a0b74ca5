"""Runtime settings of a worker profile: one config class per runtime, tagged by ``kind``.

A new runtime is a config class here, added to :data:`RuntimeSettings`, plus its module
``orchestra/runtime/<kind>.py``. :func:`legacy_runtime` reads the older form (``runtime:
docker`` beside a ``docker:`` section) so configs written for it keep working.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from orchestra.config.strict import Strict


class MountConfig(Strict):
    source: str | None = None
    """Host folder mounted into the container; default: the task's workspace."""
    target: str = "/workspace"
    """Where the workspace appears inside the container."""
    read_only: bool | None = None
    """Force the mount read-only (true) or read-write (false); default follows the role."""


class DockerConfig(Strict):
    """Settings of the Docker runtime: each step in a sandboxed container."""

    kind: Literal["docker"] = "docker"
    """The runtime: a sandboxed Docker container per step (the default)."""
    image: str = Field(..., min_length=1, examples=["orchestra-worker:latest"])
    """Image the step's container starts from (build it with `orchestra worker-image build`)."""
    base_url: str | None = None
    """Docker engine address; default: DOCKER_HOST or the local socket."""
    workdir: str = "/workspace"
    """Working directory inside the container."""
    network: str = "egress"
    """egress (default): an internal network whose only way out is Orchestra's egress proxy,
    which lets through the step's model API and `egress_allow`; none: no network; bridge, host
    or a network name: Docker's own, unfiltered (the agent reaches your LAN and more)."""
    egress_allow: list[str] = Field(default_factory=list, examples=[["pypi.org", "llm.lan:8000"]])
    """Hosts (`host`, `host:port`, `*.domain[:port]`; no port = 80 and 443) a step may reach
    through the egress proxy besides its model API. A host named outright may be a private or
    link-local address (a model server on the LAN); a wildcard never may."""
    egress_image: str = "orchestra-worker:latest"
    """Image the egress proxy sidecar runs from (any image with python3)."""
    mount: MountConfig = Field(default_factory=MountConfig)
    """How the task workspace is mounted."""
    bridge_host: str = "host.docker.internal"
    """Host name that replaces localhost/127.0.0.1/[::1] in env values (not on network host)."""
    user: str | None = None
    """uid:gid the container runs as; default: the host user's, so files stay theirs."""
    cpus: float = Field(2.0, gt=0)
    """CPU limit for one step."""
    mem_limit: str = "4g"
    """Memory limit for one step (docker syntax: 512m, 4g)."""
    pids_limit: int = Field(512, ge=16)
    """Maximum processes inside the step's container."""
    read_only_rootfs: bool = False
    """Make the container's root filesystem read-only (a tmpfs is mounted at /tmp)."""
    volumes: list[str] = Field(default_factory=list)
    """Extra bind mounts `host:container[:ro]`; the Docker socket is always refused."""
    volume_paths: list[str] | None = Field(None, examples=[["/opt"], []])
    """Folders of the image steps read from a read-only Docker volume filled once from the image
    (per image id), not through the container's root filesystem: the agent CLIs start faster
    where the engine's storage driver is slow. Default (unset): `/opt`, where the worker image
    installs the CLIs, on the fuse-overlayfs and vfs drivers, nothing on others; [] turns it
    off. A step cannot write to these folders."""


class ProcessConfig(Strict):
    """Settings of the native process runtime (none yet beyond its tag)."""

    kind: Literal["process"] = "process"
    """The runtime: a native process, NOT a sandbox (trusted agents only)."""


RuntimeSettings = Annotated[DockerConfig | ProcessConfig, Field(discriminator="kind")]
"""A worker's runtime, tagged by ``kind``. A new runtime is a config class here (added to this
union) plus its module ``orchestra/runtime/<kind>.py``; :func:`orchestra.runtime.build_runtime`
finds the module by the kind."""

NO_RUNTIME = (
    "no runtime: set `runtime: {kind: docker, image: orchestra-worker:latest}` (a sandboxed "
    "container, build the image with `orchestra worker-image build`) or `runtime: {kind: process}`"
)


def legacy_runtime(profile: dict[str, Any]) -> dict[str, Any]:
    """``profile`` with the older form (``runtime: docker|process`` beside a ``docker:``
    section) mapped onto the tagged ``runtime:`` mapping, so configs written for it keep
    working. A profile in the new form (or with neither key) comes back unchanged."""
    runtime = profile.get("runtime")
    if "docker" not in profile and not isinstance(runtime, str):
        return profile
    data = dict(profile)
    docker = data.pop("docker", None)
    if isinstance(docker, BaseModel):
        docker = docker.model_dump(exclude_unset=True)
    if runtime is None or isinstance(runtime, str):
        runtime = {"kind": runtime or "docker"}
    if isinstance(runtime, dict):
        runtime = {"kind": "docker", **runtime}
        if runtime["kind"] == "docker" and isinstance(docker, dict):
            runtime.update(docker)
    data["runtime"] = runtime
    return data

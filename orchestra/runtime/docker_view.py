"""What a step's agent sees from inside its container: the Docker runtime's :class:`AgentView`.

The workspace at the mount target, the output folder and the user's objects at fixed container
paths, nothing of the host's environment (the image's PATH, ``HOME=/tmp``), and the host's
loopback as ``bridge_host`` (unless the step shares the host's network, or has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from orchestra.config.runtimes import DockerConfig
from orchestra.runtime.sandbox import (
    CONTAINER_OBJECTS_DIR,
    CONTAINER_OUTPUT_DIR,
    EGRESS_NETWORK,
    rewrite_loopback,
)


class DockerView:
    """The container's answers, from the profile's Docker settings alone (no engine call)."""

    def __init__(self, cfg: DockerConfig) -> None:
        self.cfg = cfg

    def paths(self, workspace: Path, output_dir: Path) -> tuple[str, str]:
        """The mount target and the fixed output folder."""
        del workspace, output_dir
        return self.cfg.mount.target, CONTAINER_OUTPUT_DIR

    def objects(self, objects_dir: Path) -> str:
        """The read-only mount of the user's objects."""
        del objects_dir
        return CONTAINER_OBJECTS_DIR

    def base_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Nothing from the host: the container's own HOME and the image's PATH apply."""
        del environ
        return {}

    def url(self, url: str) -> str | None:
        """None without a network; as given on the host's network; else with the host's
        loopback replaced by ``bridge_host`` (the name the container has for the host)."""
        if self.cfg.network == "none":
            return None
        if self.cfg.network == "host":
            return url
        return rewrite_loopback(url, self.cfg.bridge_host)

    def where(self) -> str:
        """The image."""
        return f"docker image {self.cfg.image}"

    def caveat(self) -> str | None:
        """Root inside the container, or a network that is not filtered, when the profile asks
        for them."""
        notes = []
        if str(self.cfg.user or "").split(":")[0] in {"0", "root"}:
            notes.append("runs as root in its container (runtime.user asks for it)")
        if self.cfg.network not in (EGRESS_NETWORK, "none"):
            notes.append(
                f"network {self.cfg.network!r} is not filtered: the agent reaches your LAN, cloud "
                "metadata addresses and any host; the default `network: egress` lets through "
                "only its model API and runtime.egress_allow (docs/security.md)"
            )
        return "; ".join(notes) or None

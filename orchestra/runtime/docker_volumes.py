"""Folders of the image a Docker step reads from a read-only volume, not its root filesystem.

Where the engine's storage driver is slow (``fuse-overlayfs``: every file a container opens in
its root filesystem goes through a FUSE daemon of its own, with a cold page cache in each new
container), an agent CLI's start-up pays for it on every step: Claude Code's ~200 MB executable,
aider's ~7,500 Python files. Measured here: a one-turn Claude Code run in a fresh container took
1.59 s from the root filesystem and 1.15 s with ``/opt`` (where the worker image installs the
CLIs) on a volume; ``aider --version`` 1.8 s and 1.1 s (docs/decisions.md).

So the folders of ``runtime.volume_paths`` (auto: ``/opt`` on such a driver) come from a named
volume per image id and folder, filled from the image once by the engine's own copy (a container
is *created* with the empty volume mounted, never started: no code of the image runs), and
mounted **read-only** into every step. A step cannot change it (read-only mount, no
capabilities), so nothing a step writes there survives into the next step; the volume holds
exactly what the image holds at that path, and a rebuilt image (a new id) gets a new volume.

A volume counts as filled only once a marker volume names it (label ``orchestra.filled-volume``
on ``orchestra-image-<image id>-<path hash>-ready``): each filler fills a volume of its own, and
the first to create the marker wins, so no step mounts a half-filled volume, even with several
orchestrators on one engine. Volumes of images that are gone are removed after a fill.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import uuid
from typing import Any

from docker.errors import APIError, ImageNotFound, NotFound
from loguru import logger

from orchestra.config.runtimes import DockerConfig
from orchestra.runtime.base import LABEL_MANAGED

#: Storage drivers whose root filesystems are slow to read (auto mode serves /opt from a volume).
SLOW_DRIVERS = frozenset({"fuse-overlayfs", "vfs"})
#: What auto mode serves from a volume: where the worker image installs the agent CLIs.
AUTO_PATHS = ("/opt",)
#: Seconds a runtime trusts the volume it found for a folder before it looks again.
RECHECK_SECONDS = 60.0
LABEL_IMAGE = "orchestra.image-volume"
"""The image id a volume was filled from."""
LABEL_PATH = "orchestra.image-path"
LABEL_FILLED = "orchestra.filled-volume"
"""On a marker volume: the name of the filled volume it stands for."""
READY_SUFFIX = "-ready"

_fill_lock = threading.Lock()


def marker_name(image_id: str, path: str) -> str:
    """``orchestra-image-<image id>-<hash of path>-ready``: names the filled volume of a folder
    of an image (label :data:`LABEL_FILLED`)."""
    digest = image_id.removeprefix("sha256:")[:16]
    where = hashlib.sha256(path.encode()).hexdigest()[:8]
    return f"orchestra-image-{digest}-{where}{READY_SUFFIX}"


class ImageVolumes:
    """The read-only volume mounts of one runtime's image (see the module docstring)."""

    def __init__(self, cfg: DockerConfig) -> None:
        self.cfg = cfg
        self._known: dict[str, tuple[float, str]] = {}
        self._paths: tuple[str, ...] | None = (
            None
            if cfg.volume_paths is None
            else tuple(p.rstrip("/") or "/" for p in cfg.volume_paths)
        )

    def mounts(self, client: Any, taken: list[str]) -> list[dict[str, Any]]:
        """Mounts for a step's container; ``taken``: targets the step mounts already (theirs
        win). An engine error here costs speed, never the step: no volume, the root
        filesystem serves the folder."""
        try:
            paths = [p for p in self._wanted(client) if p not in taken and p != "/"]
            if not paths:
                return []
            return [_mount(self._volume(client, path), path) for path in paths]
        except (APIError, ImageNotFound, NotFound) as exc:
            logger.warning("image folders stay on the root filesystem: {}", exc)
            return []

    def _volume(self, client: Any, path: str) -> str:
        # The image id and its volume are looked up again after RECHECK_SECONDS: three engine
        # requests per step otherwise (~5 ms each, more on a busy engine), while a rebuilt
        # image or a removed volume is rare within one flow run.
        now = time.monotonic()
        cached = self._known.get(path)
        if cached is not None and now - cached[0] < RECHECK_SECONDS:
            return cached[1]
        image_id = client.images.get(self.cfg.image).id
        name = self._filled(client, image_id, path)
        self._known[path] = (now, name)
        return name

    def _wanted(self, client: Any) -> tuple[str, ...]:
        if self._paths is None:
            driver = str(client.info().get("Driver", ""))
            self._paths = AUTO_PATHS if driver in SLOW_DRIVERS else ()
        return self._paths

    def _filled(self, client: Any, image_id: str, path: str) -> str:
        marker = marker_name(image_id, path)
        if found := _filled_volume(client, marker):
            return found
        with _fill_lock:  # one filler per process (others race through the marker)
            return _filled_volume(client, marker) or _fill(client, image_id, path, marker)


def _mount(name: str, path: str) -> dict[str, Any]:
    # NoCopy: a step's create never copies into the volume (only the filler's does).
    return {
        "Type": "volume",
        "Source": name,
        "Target": path,
        "ReadOnly": True,
        "VolumeOptions": {"NoCopy": True},
    }


def _exists(client: Any, name: str) -> bool:
    try:
        client.api.inspect_volume(name)
    except NotFound:
        return False
    return True


def _filled_volume(client: Any, marker: str) -> str | None:
    """The filled volume the marker names, if both exist."""
    try:
        name = (client.api.inspect_volume(marker).get("Labels") or {}).get(LABEL_FILLED)
        if name:
            client.api.inspect_volume(name)
    except NotFound:
        return None
    return name or None


def _fill(client: Any, image_id: str, path: str, marker: str) -> str:
    """Fill a volume of our own from ``path`` of the image (the engine copies while it creates
    a container that is never started), then claim the marker. Creating a volume that exists
    returns the existing one, so the first filler to finish wins and a later one removes its
    own copy: no step ever mounts a volume that is still being filled."""
    labels = {LABEL_IMAGE: image_id, LABEL_PATH: path, LABEL_MANAGED: "true"}
    with contextlib.suppress(NotFound, APIError):  # a marker whose volume is gone
        target = (client.api.inspect_volume(marker).get("Labels") or {}).get(LABEL_FILLED)
        if not target or not _exists(client, str(target)):
            client.api.remove_volume(marker)
    mine = f"{marker.removesuffix(READY_SUFFIX)}-{uuid.uuid4().hex[:8]}"
    client.api.create_volume(mine, labels=labels)
    logger.info("filling volume {} from {} of image {} (once per image)", mine, path, image_id)
    try:
        filler = client.api.create_container(
            image_id,
            entrypoint=["/nonexistent"],  # never started: no code of the image runs
            host_config=client.api.create_host_config(
                mounts=[{"Type": "volume", "Source": mine, "Target": path, "ReadOnly": True}]
            ),
            labels=labels,
        )
        client.api.remove_container(filler["Id"], force=True)
        won = client.api.create_volume(marker, labels={**labels, LABEL_FILLED: mine})
    except BaseException:
        with contextlib.suppress(NotFound, APIError):
            client.api.remove_volume(mine, force=True)
        raise
    winner = str((won.get("Labels") or {}).get(LABEL_FILLED) or "")
    if winner != mine:
        with contextlib.suppress(NotFound, APIError):
            client.api.remove_volume(mine)
    _remove_stale(client, path)
    return winner or mine


def _remove_stale(client: Any, path: str) -> None:
    """Remove the volumes (and markers) of ``path`` filled from images that no longer exist."""
    found = client.api.volumes(filters={"label": [f"{LABEL_PATH}={path}"]}).get("Volumes") or []
    for volume in found:
        image_id = (volume.get("Labels") or {}).get(LABEL_IMAGE, "")
        try:
            client.api.inspect_image(image_id)
        except ImageNotFound:
            with contextlib.suppress(NotFound, APIError):  # in use: a later fill retries
                client.api.remove_volume(volume["Name"])
        except APIError:
            continue

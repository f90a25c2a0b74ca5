"""Folders of the image served to Docker steps from a read-only volume (runtime.volume_paths)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestra.config.models import DockerConfig
from orchestra.runtime.base import StepRequest
from orchestra.runtime.docker import DockerRuntime
from orchestra.runtime.docker_volumes import (
    LABEL_FILLED,
    LABEL_PATH,
    SLOW_DRIVERS,
    ImageVolumes,
    marker_name,
)

pytestmark = pytest.mark.docker

#: A folder of the busybox test image that every step needs (sh lives there).
FOLDER = "/bin"


def _runtime(image: str, project: str, run_id: str, **cfg: Any) -> DockerRuntime:
    return DockerRuntime(
        DockerConfig(image=image, **cfg), project_id=project, run_id=run_id, kill_grace=1
    )


def _request(tmp_path: Path, script: str) -> StepRequest:
    (tmp_path / "ws").mkdir(exist_ok=True)
    return StepRequest(
        argv=["sh", "-c", script],
        workspace=tmp_path / "ws",
        output_dir=tmp_path / "out",
        timeout=30,
        name="implement",
    )


def _mounts(client: Any, image: str, **cfg: Any) -> list[dict[str, Any]]:
    return ImageVolumes(DockerConfig(image=image, **cfg)).mounts(client, ["/workspace"])


class TestImageVolumes:
    def test_step_reads_the_folder_and_cannot_write_it(
        self, docker_client: Any, docker_image: str, docker_project: str, run_id: str,
        tmp_path: Path,
    ) -> None:  # fmt: skip
        """The step runs the image's own /bin from the volume; even as root it cannot plant a
        file there (read-only), so the next step sees the image's content only."""
        runtime = _runtime(docker_image, docker_project, run_id, volume_paths=[FOLDER], user="0:0")
        script = "grep -q ' /bin ' /proc/mounts && ls /bin/sh && touch /bin/planted"
        first = runtime.run(_request(tmp_path, script))
        assert first.exit_code != 0
        assert "/bin/sh" in first.stdout
        assert "Read-only file system" in first.stderr
        second = runtime.run(_request(tmp_path, "test ! -e /bin/planted"))
        assert second.exit_code == 0, second.stderr

    def test_one_fill_per_image_and_folder(self, docker_client: Any, docker_image: str) -> None:
        """The marker names one filled volume; later runtimes mount that one, not a new fill."""
        first = _mounts(docker_client, docker_image, volume_paths=[FOLDER])
        again = _mounts(docker_client, docker_image, volume_paths=[FOLDER])
        assert first == again and len(first) == 1
        assert first[0]["ReadOnly"] is True and first[0]["Target"] == FOLDER
        image_id = docker_client.images.get(docker_image).id
        marker = docker_client.api.inspect_volume(marker_name(image_id, FOLDER))
        assert marker["Labels"][LABEL_FILLED] == first[0]["Source"]
        filled = docker_client.api.volumes(filters={"label": [f"{LABEL_PATH}={FOLDER}"]})
        names = {v["Name"] for v in filled["Volumes"] or []}
        assert first[0]["Source"] in names

    def test_off_and_taken_folders_get_no_volume(
        self, docker_client: Any, docker_image: str
    ) -> None:
        """`volume_paths: []` mounts nothing; a folder the step already mounts keeps its mount;
        auto mode follows the engine's storage driver."""
        assert _mounts(docker_client, docker_image, volume_paths=[]) == []
        assert _mounts(docker_client, docker_image, volume_paths=["/workspace"]) == []
        slow = docker_client.info().get("Driver") in SLOW_DRIVERS
        auto = [m["Target"] for m in _mounts(docker_client, docker_image)]
        assert auto == (["/opt"] if slow else [])

"""A worker's runtime: one tagged union, the older `runtime:` + `docker:` form still read."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.config.loader import LOCAL_FILE, PROJECT_FILE, load_config
from orchestra.config.models import DockerConfig, ProcessConfig, WorkerProfile
from orchestra.errors import ConfigError


def _load(tmp_path: Path, project: str, local: str | None = None) -> dict[str, object]:
    (tmp_path / PROJECT_FILE).write_text(project, encoding="utf-8")
    if local is not None:
        (tmp_path / LOCAL_FILE).write_text(local, encoding="utf-8")
    user = tmp_path / "no-user.yaml"
    cfg = load_config(tmp_path, environ={}, user_file=user).config
    return {wid: p.runtime for wid, p in cfg.workers.items()}


class TestForms:
    def test_tagged_form(self, tmp_path: Path) -> None:
        """`runtime: {kind: docker, ...}` carries the Docker settings in one mapping."""
        got = _load(
            tmp_path,
            "workers:\n  coder: {role: coder, runtime: {kind: docker, image: img, network: none}}\n",
        )
        assert got["coder"] == DockerConfig(image="img", network="none")

    def test_older_form_is_mapped(self, tmp_path: Path) -> None:
        """`runtime: docker` beside `docker: {...}` and a bare `runtime: process` still load."""
        got = _load(
            tmp_path,
            "workers:\n"
            "  coder: {role: coder, runtime: docker, docker: {image: img, cpus: 1}}\n"
            "  reviewer: {role: reviewer, docker: {image: img2}}\n"
            "  fixer: {role: fixer, runtime: process}\n",
        )
        assert got["coder"] == DockerConfig(image="img", cpus=1)
        assert got["reviewer"] == DockerConfig(image="img2")
        assert got["fixer"] == ProcessConfig()

    def test_kind_defaults_to_docker(self) -> None:
        """A runtime mapping without `kind` is a Docker one (the default runtime)."""
        assert WorkerProfile(role="coder", runtime={"image": "x"}).runtime == DockerConfig(
            image="x"
        )

    def test_unknown_kind_names_the_kinds(self, tmp_path: Path) -> None:
        """A kind no runtime has is an error naming the key and the kinds there are."""
        with pytest.raises(ConfigError) as caught:
            _load(tmp_path, "workers:\n  coder: {role: coder, runtime: {kind: k8s}}\n")
        text = str(caught.value)
        assert "workers.coder.runtime" in text
        assert "'docker'" in text and "'process'" in text

    def test_no_runtime_at_all_says_what_to_write(self) -> None:
        """A profile with neither form says how to write one."""
        with pytest.raises(ValueError, match=r"runtime: \{kind: docker, image: "):
            WorkerProfile.model_validate({"role": "coder"})


class TestLayers:
    def test_a_local_process_runtime_replaces_a_docker_one(self, tmp_path: Path) -> None:
        """orchestra.local.yaml switching a worker to `{kind: process}` replaces its Docker
        settings instead of merging them (which would leave `image` on a process runtime)."""
        got = _load(
            tmp_path,
            "workers:\n  coder: {role: coder, runtime: {kind: docker, image: img}}\n",
            "workers:\n  coder: {runtime: {kind: process}}\n",
        )
        assert got["coder"] == ProcessConfig()

    def test_an_older_form_overlay_merges_into_a_tagged_base(self, tmp_path: Path) -> None:
        """A local file in the older form changes one Docker key of a tagged base."""
        got = _load(
            tmp_path,
            "workers:\n  coder: {role: coder, runtime: {kind: docker, image: img, cpus: 1}}\n",
            "workers:\n  coder: {docker: {image: other}}\n",
        )
        assert got["coder"] == DockerConfig(image="other", cpus=1)

    def test_a_tagged_overlay_wins_over_an_older_form_base(self, tmp_path: Path) -> None:
        """The later layer wins, whichever form each layer is written in."""
        got = _load(
            tmp_path,
            "workers:\n  coder: {role: coder, runtime: docker, docker: {image: img}}\n",
            "workers:\n  coder: {runtime: {image: newer}}\n",
        )
        assert got["coder"] == DockerConfig(image="newer")

    def test_an_environment_variable_switches_the_runtime(self, tmp_path: Path) -> None:
        """ORCHESTRA_WORKERS__CODER__RUNTIME=process (the older form) switches one worker."""
        (tmp_path / PROJECT_FILE).write_text(
            "workers:\n  coder: {role: coder, runtime: {kind: docker, image: img}}\n",
            encoding="utf-8",
        )
        cfg = load_config(
            tmp_path,
            environ={"ORCHESTRA_WORKERS__CODER__RUNTIME": "process"},
            user_file=tmp_path / "none.yaml",
        ).config
        assert cfg.workers["coder"].runtime == ProcessConfig()

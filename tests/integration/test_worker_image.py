"""The worker image: built from the Dockerfile in the package, runs as any uid, and a missing
image is reported once, with a command that builds it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestra.cli.worker_image import (
    DEFAULT_BASE,
    SOURCE_LABEL,
    build_args,
    dockerfile_text,
    source_hash,
)
from orchestra.errors import ConfigError

pytestmark = [pytest.mark.docker]

REPO = Path(__file__).resolve().parents[2]
WORKER_IMAGE = "orchestra-worker:latest"


def orchestra(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "orchestra.cli.app", *args]
    env = {**os.environ, "COLUMNS": "400"}  # rich's table: one line per row
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def worker_image(docker_client: Any) -> str:
    from docker.errors import ImageNotFound

    try:
        docker_client.images.get(WORKER_IMAGE)
    except ImageNotFound:
        pytest.fail(f"{WORKER_IMAGE!r} is missing: run `make worker-image`", pytrace=False)
    return WORKER_IMAGE


class TestDockerfile:
    def test_repo_dockerfile_is_the_packaged_one(self) -> None:
        """docker/worker/Dockerfile and the one `orchestra worker-image build` uses are one file."""
        assert (REPO / "docker" / "worker" / "Dockerfile").read_text() == dockerfile_text()

    def test_aider_pin_matches_the_makefile(self) -> None:
        """The image and `make aider` install the same aider version."""
        makefile = (REPO / "Makefile").read_text()
        assert "ARG AIDER_VERSION=0.86.2" in dockerfile_text()
        assert "AIDER_VERSION ?= 0.86.2" in makefile

    def test_pypi_clis_are_in_by_default(self) -> None:
        """aider, Claude Code and Codex (all from PyPI) go in by default; --with adds OpenCode
        (npm), --without leaves one out; a typo is refused."""
        args = build_args("orchestra-base:bookworm", [""])
        installs = ("INSTALL_AIDER", "INSTALL_CLAUDE", "INSTALL_CODEX", "INSTALL_OPENCODE")
        assert [args[k] for k in installs] == ["1", "1", "1", "0"]
        assert build_args("b", ["opencode"])["INSTALL_OPENCODE"] == "1"
        assert build_args("b", [], without=["codex"])["INSTALL_CODEX"] == "0"
        assert build_args("b", [], aider=False)["INSTALL_AIDER"] == "0"
        with pytest.raises(ConfigError, match=r"unknown agent CLI 'cluade' for --with/--without"):
            build_args("b", ["cluade"])

    def test_cli_pins_match_the_makefile(self) -> None:
        """The image and `make claude codex` install the same Claude Code and Codex wheels, and
        no npm package of either."""
        makefile = (REPO / "Makefile").read_text()
        text = dockerfile_text()
        assert "ARG CLAUDE_SDK_VERSION=0.2.184" in text
        assert "CLAUDE_SDK_VERSION ?= 0.2.184" in makefile
        assert "ARG CODEX_VERSION=0.163.0" in text
        assert "CODEX_VERSION ?= 0.163.0" in makefile
        assert "@anthropic-ai/claude-code" not in text
        assert "@openai/codex" not in text

    def test_cli_prints_the_dockerfile(self) -> None:
        """`orchestra worker-image dockerfile` prints what a pip user builds from."""
        out = orchestra("worker-image", "dockerfile")
        assert out.returncode == 0, out.stderr
        assert out.stdout == dockerfile_text()


class TestImage:
    def test_image_carries_what_it_was_built_from(
        self, worker_image: str, docker_client: Any
    ) -> None:
        """The default build is labelled with the hash of this Dockerfile and its CLI choices;
        an image with another label (an older Dockerfile) is not taken for current."""
        labels = docker_client.images.get(worker_image).labels
        assert labels[SOURCE_LABEL] == source_hash(build_args(DEFAULT_BASE, []))
        assert source_hash(build_args(DEFAULT_BASE, [], without=["codex"])) != labels[SOURCE_LABEL]

    def test_build_reuses_an_existing_image(self, worker_image: str) -> None:
        """`orchestra worker-image build` is a no-op when the image exists, built from this
        Dockerfile."""
        out = orchestra("worker-image", "build", "--tag", worker_image)
        assert out.returncode == 0, out.stderr
        assert f"{worker_image} already exists" in out.stdout

    def test_missing_base_is_named_with_the_fix(self, docker_client: Any) -> None:
        """A missing base image stops the build with its name and how to make it."""
        out = orchestra(
            "worker-image", "build", "--tag", "orch9a-never:x", "--base", "orch9a-no-base:x"
        )
        assert out.returncode == 2
        assert "the base image 'orch9a-no-base:x' is not in the Docker engine" in out.stdout

    @pytest.mark.parametrize("uid", ["4242:4242", "65534:65534"])
    def test_runs_as_any_uid_with_a_writable_home(self, worker_image: str, uid: str) -> None:
        """Any uid (no passwd entry) can write HOME and run aider, Claude Code, Codex and git."""
        out = subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--label",
                "orchestra.test=worker-image",
                "--user",
                uid,
                worker_image,
                "sh",
                "-c",
                'touch "$HOME/probe" && aider --version && git --version'
                " && claude --version && codex --version",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        assert "aider 0.86.2" in out.stdout
        assert "2.1.327 (Claude Code)" in out.stdout
        assert "codex-cli 0.163.0" in out.stdout


class TestDoctor:
    def test_missing_image_said_once_with_a_working_command(self, tmp_path: Path) -> None:
        """Five workers on one missing image: doctor names it once, with `orchestra worker-image
        build`, not the repository-relative docker build."""
        repo = tmp_path / "repo"
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        text = (REPO / "orchestra" / "templates" / "orchestra.yaml").read_text()
        (repo / "orchestra.yaml").write_text(
            text.replace("orchestra-worker:latest", "orch9a-missing:x")
        )
        ident = ["-c", "user.name=u", "-c", "user.email=u@x"]
        subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
        subprocess.run(["git", "-C", str(repo), *ident, "commit", "-qm", "init"], check=True)
        out = orchestra("doctor", "--project", str(repo), cwd=repo)
        flat = " ".join(out.stdout.split())
        assert flat.count("orchestra worker-image build --tag orch9a-missing:x") == 1, out.stdout
        assert "docker/worker/Dockerfile" not in flat
        assert "planner, architect, coder, reviewer, fixer" in flat

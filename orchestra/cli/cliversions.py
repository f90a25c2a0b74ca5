"""`orchestra doctor`'s versions of the agent CLIs the workers run: on the host for the process
runtime, inside the worker image for Docker (each CLI asked with ``--version``, one short
container per image and CLI, no network)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from typing import Any

from orchestra.agents import executable
from orchestra.runtime.sandbox import CONTAINER_HOME

#: CLIs that answer ``--version`` (a ``command`` agent is the user's own program).
VERSIONED = ("claude", "codex", "aider", "opencode")
VERSION_TIMEOUT = 30.0


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def host_version(program: str) -> str:
    """``program --version`` on this machine, or why it could not be asked."""
    try:
        out = subprocess.run(
            [program, "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"not runnable here ({type(exc).__name__})"
    return _first_line(out.stdout) or _first_line(out.stderr) or f"exit code {out.returncode}"


def image_version(image: str, program: str) -> str:
    """``program --version`` inside ``image``, or why it could not be asked."""
    try:
        from docker.client import DockerClient

        client = DockerClient.from_env()
        try:
            output = client.containers.run(
                image,
                [program, "--version"],
                remove=True,
                network_mode="none",
                environment={"HOME": CONTAINER_HOME},
                labels={"orchestra.doctor": "version"},
            )
        finally:
            client.close()
    except Exception as exc:
        return f"not runnable in the image ({type(exc).__name__})"
    return _first_line(output.decode("utf-8", errors="replace")) or "no version printed"


def version_rows(profiles: Iterable[Any]) -> list[tuple[str, str, str]]:
    """One ``(check, "ok", version)`` row per distinct CLI and place among ``profiles``."""
    rows: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for profile in profiles:
        if profile.agent not in VERSIONED:
            continue
        program = executable(profile.agent, profile.command)
        image = profile.docker.image if profile.runtime == "docker" and profile.docker else ""
        if (program, image) in seen:
            continue
        seen.add((program, image))
        if image:
            rows.append((f"{program} in {image}", "ok", image_version(image, program)))
        else:
            rows.append((f"{program} on this machine", "ok", host_version(program)))
    return rows

"""What the agent of a step sees of the host, as its runtime answers it.

The engine, preflight, upkeep and doctor ask a runtime's :class:`AgentView` and never branch on
the runtime's kind: the paths an agent is told, the objects it may read, the environment every
step of that runtime starts from, and how a host URL looks from inside the step.
:class:`HostView` is the native answer: the step runs here and sees the host as it is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

#: Passed to native steps from the host so an agent finds its interpreter, a HOME and a locale.
HOST_BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


@runtime_checkable
class AgentView(Protocol):
    """One runtime's answers about what a step's agent sees."""

    def paths(self, workspace: Path, output_dir: Path) -> tuple[str, str]:
        """The workspace and the output folder as the agent names them."""

    def objects(self, objects_dir: Path) -> str:
        """The user's git object folder (read-only to the agent) as the agent names it."""

    def base_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Variables every step of this runtime gets from ``environ`` before the profile's."""

    def url(self, url: str) -> str | None:
        """``url`` (as the host would dial it) as the step dials it; None: the step has no
        network, so nothing it names can be reached."""

    def where(self) -> str:
        """Where steps run, for a person: "process", "docker image orchestra-worker:latest"."""

    def caveat(self) -> str | None:
        """What a person must know before trusting this runtime with an agent, or None."""


class HostView:
    """A native step's view: host paths, the host's network, a few host variables."""

    def __init__(self, where: str = "process", caveat: str | None = None) -> None:
        self._where = where
        self._caveat = caveat

    def paths(self, workspace: Path, output_dir: Path) -> tuple[str, str]:
        """The host paths themselves."""
        return str(workspace), str(output_dir)

    def objects(self, objects_dir: Path) -> str:
        """The host path itself (read in place: trusted agents only)."""
        return str(objects_dir)

    def base_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """HOST_BASE_ENV from ``environ``, with the running interpreter's folder first on PATH
        (virtualenvs are often not on PATH, and agents may be installed into one)."""
        env = {key: environ[key] for key in HOST_BASE_ENV if key in environ}
        env["PATH"] = os.pathsep.join(
            [str(Path(sys.executable).parent), env.get("PATH", os.defpath)]
        )
        return env

    def url(self, url: str) -> str | None:
        """The URL itself: the step shares the host's network."""
        return url

    def where(self) -> str:
        """As given (the runtime's own name)."""
        return self._where

    def caveat(self) -> str | None:
        """As given."""
        return self._caveat

#!/usr/bin/env python3
"""Make a fresh git repository with the demo project, ready for Orchestra.

    python examples/demo/setup_demo.py DEST

Copies ``project/`` to DEST (which must not exist, or be empty), writes ``DEST/orchestra.yaml``
from the demo config with the absolute path of ``demo_agent.py`` filled in, then runs
``git init -b main``, sets a local demo user, keeps ``.orchestra/`` out of git through
``.git/info/exclude`` and commits everything. Prints DEST. Standard library only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "project"
CONFIG_TEMPLATE = HERE / "orchestra.yaml"
DEMO_AGENT = HERE / "demo_agent.py"
PLACEHOLDER = "@DEMO_AGENT@"


class SetupError(Exception):
    """The demo cannot be set up at the destination asked for."""


def _git(dest: Path, *args: str) -> None:
    done = subprocess.run(["git", *args], cwd=dest, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"`git {' '.join(args)}` failed in {str(dest)!r}: {done.stderr.strip()}"
        raise SetupError(msg)


def render_config(agent: Path = DEMO_AGENT) -> str:
    """The demo config with the placeholder replaced by ``agent`` (quoted as YAML needs)."""
    template = CONFIG_TEMPLATE.read_text(encoding="utf-8")
    # The template writes "@DEMO_AGENT@" in double quotes; a JSON string is valid YAML there.
    return template.replace(f'"{PLACEHOLDER}"', json.dumps(str(agent)))


def setup(dest: Path) -> Path:
    """Create the demo repository at ``dest`` and return its absolute path.

    Raises SetupError when ``dest`` exists and is not an empty folder, or when git fails.
    """
    dest = dest.expanduser().resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        msg = f"{str(dest)!r} already exists and is not empty; pick a new folder or remove it"
        raise SetupError(msg)
    if shutil.which("git") is None:
        msg = "git was not found on PATH; install git to set up the demo"
        raise SetupError(msg)
    shutil.copytree(
        PROJECT, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    (dest / "orchestra.yaml").write_text(render_config(), encoding="utf-8")
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "config", "user.name", "Demo User")
    _git(dest, "config", "user.email", "demo@example.com")
    exclude = dest / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a", encoding="utf-8") as handle:
        handle.write("\n# Orchestra's queue, runs and logs\n.orchestra/\n")
    _git(dest, "add", "-A")
    _git(dest, "-c", "commit.gpgsign=false", "commit", "-q", "-m", "Initial demo project")
    return dest


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] in {"-h", "--help"}:
        print("usage: python examples/demo/setup_demo.py DEST", file=sys.stderr)
        return 2
    try:
        dest = setup(Path(argv[0]))
    except SetupError as exc:
        print(f"setup_demo: {exc}", file=sys.stderr)
        return 1
    print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

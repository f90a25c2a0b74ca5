"""The agent CLI's per-run state folder, made ready before a step: its folders (writable, or
codex exits 1), the settings files its adapter writes (codex's ``config.toml``, claude's
``settings.json``) and, when the profile offers one, a read-only copy of its login file.

Everything lives under the step's ``.state`` folder, which the step deletes when the agent exits:
a copied login never outlives the step, and the user's own CLI folder is never mounted.
URLs in a settings file (codex's provider ``base_url``) are written as the step dials them
(its runtime's view: in a container the host's loopback has another name).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from orchestra.agents import Invocation, login_file, state_dirs
from orchestra.config.models import WorkerProfile
from orchestra.errors import ConfigError
from orchestra.paths import write_own_file
from orchestra.runtime import AgentView

_URL = re.compile(r"https?://[^\s\"'<>]+")


def prepare_state(
    profile: WorkerProfile, invocation: Invocation, state_dir: Path, view: AgentView
) -> None:
    """Create ``profile``'s state folders under ``state_dir`` and write its per-run files."""
    for folder in state_dirs(profile.agent, str(state_dir)):
        Path(folder).mkdir(parents=True, exist_ok=True)
    for relative, text in invocation.state_files.items():
        content = _URL.sub(lambda m: view.url(m.group(0)) or m.group(0), text)
        target = state_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        write_own_file(target, content)
    if profile.cli.auth_file:
        copy_login(profile, state_dir)


def copy_login(profile: WorkerProfile, state_dir: Path) -> Path:
    """Copy the profile's ``cli.auth_file`` into the per-run state folder, read-only."""
    where = login_file(profile.agent)
    source = Path(profile.cli.auth_file or "").expanduser()
    if where is None:
        msg = (
            f"cli.auth_file {profile.cli.auth_file!r} is set for agent {profile.agent!r}, which "
            "takes no login file; remove it (claude reads CLAUDE_CODE_OAUTH_TOKEN from pass_env)"
        )
        raise ConfigError(msg)
    if not source.is_file():
        msg = (
            f"cli.auth_file {str(source)!r} is not a file; run `codex login` on this machine "
            "(it writes ~/.codex/auth.json) or fix the path"
        )
        raise ConfigError(msg)
    target = state_dir / where
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(0o400)
    return target

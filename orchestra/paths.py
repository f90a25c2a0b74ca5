"""Safe path resolution: nothing escapes the project unless it is absolute on purpose."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

from orchestra.errors import PathEscapeError


def resolve_in_project(project: Path, value: str | Path, *, what: str = "path") -> Path:
    """Resolve ``value`` against ``project``.

    Absolute paths are taken as given (the user chose them). Relative paths must stay inside
    the project after resolving ``..`` and symlinks; otherwise :class:`PathEscapeError`.
    """
    candidate = Path(value).expanduser()
    if candidate.is_absolute():
        return candidate
    root = project.resolve()
    resolved = (root / candidate).resolve()
    if resolved != root and root not in resolved.parents:
        msg = (
            f"{what} {str(value)!r} resolves to {str(resolved)!r}, outside the project "
            f"{str(root)!r}; use a path inside the project, or an absolute path on purpose"
        )
        raise PathEscapeError(msg)
    return resolved


#: An agent's output folder is writable by the agent: never follow a link it planted there.
MAX_AGENT_FILE_BYTES = 1_000_000


def read_agent_file(path: Path | str, *, dir_fd: int | None = None) -> str | None:
    """The text of a regular file the agent wrote, or None (missing, a symlink, not a file).

    Opened with O_NOFOLLOW (a link to a host file is refused, not read) and O_NONBLOCK (a FIFO
    in its place cannot block the host). ``dir_fd``: ``path`` is a name in that open folder.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return fh.read(MAX_AGENT_FILE_BYTES).decode("utf-8", errors="replace")


def private_dirs(path: Path) -> Path:
    """Create ``path`` and any missing parents as 0700 folders (run folders hold prompts,
    outputs and agents' state: no other local user may read them); return it."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by a parallel step
            folder.mkdir(mode=0o700)
    return path


def write_own_file(path: Path, text: str) -> None:
    """Write a file of ours inside a folder an agent could write: replace, never follow."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


#: Flags for a folder an agent could have replaced: a link is refused (ELOOP), a FIFO or any
#: other non-folder too (ENOTDIR), and nothing blocks.
DIR_NOFOLLOW = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK


def open_agent_dir(trusted: Path, relative: str) -> int:
    """An fd of the folder ``trusted/relative``, no link followed on the way.

    ``trusted`` is a folder of the host's own; every component of ``relative`` (which an agent
    may have replaced by a link, a FIFO or a file) is opened with :data:`DIR_NOFOLLOW` from
    the one before it. Raises OSError (ELOOP, ENOTDIR, ENOENT) when one is not a real folder.
    """
    fd = os.open(trusted, DIR_NOFOLLOW)
    try:
        for part in Path(relative).parts:
            if part in ("", ".", "..", "/"):
                msg = f"{relative!r} must name folders below {str(trusted)!r}, not {part!r}"
                raise ValueError(msg)
            inner = os.open(part, DIR_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def remove_tree(path: Path) -> None:
    """Delete whatever is at ``path``: a real folder with everything in it; a link, FIFO,
    socket or file by unlinking it, never opening or following it.

    Checked with lstat first: on Python 3.11 ``shutil.rmtree`` opens its top path with a
    blocking open, which never returns for a FIFO an agent put where a folder was. Call it
    once the agent has stopped (nothing swaps the entry between the check and the removal).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


#: Set when Orchestra itself runs in a container (the Compose stack's worker): its path prefix
#: and the host's, e.g. ``/project=/home/me/repo``.
HOST_PATH_MAP_ENV = "ORCHESTRA_HOST_PATH_MAP"


def engine_side_path(source: Path, environ: Mapping[str, str] | None = None) -> str:
    """The path the *engine* sees for ``source``.

    When Orchestra itself runs in a container (the Compose stack's worker), the engine resolves
    bind sources on the host: ``ORCHESTRA_HOST_PATH_MAP=/project=/home/me/repo`` maps the
    worker's path prefix back to the host's. Relative or empty host sides are ignored.
    """
    env = os.environ if environ is None else environ
    text = str(source)
    for pair in filter(None, env.get(HOST_PATH_MAP_ENV, "").split(",")):
        inner, _, host = pair.partition("=")
        inner, host = inner.rstrip("/"), host.rstrip("/")
        if not inner or not host.startswith("/"):
            continue
        if text == inner or text.startswith(inner + "/"):
            return host + text[len(inner) :]
    return text


def host_text(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every path under a mapped prefix (``ORCHESTRA_HOST_PATH_MAP``) shown as the
    host's: what a report says should open on the machine its reader is at, not in the
    Compose worker's container (``/project/...``)."""
    env = os.environ if environ is None else environ
    for pair in filter(None, env.get(HOST_PATH_MAP_ENV, "").split(",")):
        inner, _, host = pair.partition("=")
        inner, host = inner.rstrip("/"), host.rstrip("/")
        if inner and host.startswith("/"):
            # A whole path component only: /project/x and /project, never /projects.
            text = re.sub(rf"{re.escape(inner)}(?=/|$|[\s'\"`),;:\]])", host, text)
    return text

"""Safe path resolution: nothing escapes the project unless it is absolute on purpose."""

from __future__ import annotations

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


def ensure_inside(root: Path, candidate: Path, *, what: str = "path") -> Path:
    """Return ``candidate`` resolved, refusing anything that is not under ``root``."""
    root_r = root.resolve()
    cand_r = candidate.resolve()
    if cand_r != root_r and root_r not in cand_r.parents:
        msg = f"{what} {str(candidate)!r} is outside {str(root_r)!r}; refusing to touch it"
        raise PathEscapeError(msg)
    return cand_r

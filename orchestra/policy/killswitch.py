"""The kill switch `.orchestra/STOP`: set by `orchestra stop`, it stops running steps and skips cycles until `orchestra resume`."""

from __future__ import annotations

from pathlib import Path

from orchestra.errors import CycleSkipped

STOP_FILE = ".orchestra/STOP"


def stop_file(project: Path) -> Path:
    """The kill-switch file of a project."""
    return project / STOP_FILE


def kill_switch_reason(project: Path) -> str:
    """Why ``orchestra stop`` forbids work now; '' when the kill switch is not set."""
    if not stop_file(project).exists():
        return ""
    return f"kill switch {str(stop_file(project))!r} is set; run `orchestra resume` to allow cycles"


def check_kill_switch(project: Path) -> None:
    """Skip when ``orchestra stop`` set the kill switch."""
    if reason := kill_switch_reason(project):
        raise CycleSkipped(reason)

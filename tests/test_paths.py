"""Folders an agent could have replaced: never followed, never opened when not a folder
(orchestra/paths.py). Real files, FIFOs and links; a hang fails within seconds."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from orchestra.paths import open_agent_dir, read_agent_file, remove_tree


def _quick(action: object) -> None:
    """Run ``action`` and fail if it blocks (a FIFO opened for reading would)."""
    thread = threading.Thread(target=action, daemon=True)  # type: ignore[arg-type]
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "blocked"


def test_remove_tree_unlinks_a_fifo_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / ".state"
    os.mkfifo(fifo)
    _quick(lambda: remove_tree(fifo))
    assert not os.path.lexists(fifo)


def test_remove_tree_unlinks_a_link_and_keeps_its_target(tmp_path: Path) -> None:
    target = tmp_path / "user"
    target.mkdir()
    (target / "README.md").write_text("keep\n", encoding="utf-8")
    link = tmp_path / "staging"
    link.symlink_to(target)
    remove_tree(link)
    assert not os.path.lexists(link)
    assert (target / "README.md").read_text(encoding="utf-8") == "keep\n"


def test_remove_tree_deletes_a_folder_and_tolerates_nothing(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    os.mkfifo(tmp_path / "d" / "e" / "f")
    remove_tree(tmp_path / "d")
    remove_tree(tmp_path / "missing")
    assert not (tmp_path / "d").exists()


def test_open_agent_dir_refuses_a_link_or_fifo_at_any_level(tmp_path: Path) -> None:
    (tmp_path / "run" / "planner" / "staging").mkdir(parents=True)
    fd = open_agent_dir(tmp_path / "run", "planner/staging")
    os.close(fd)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "run" / "planner" / "staging").rmdir()
    (tmp_path / "run" / "planner" / "staging").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError) as link:
        open_agent_dir(tmp_path / "run", "planner/staging")
    assert link.value.errno in (errno.ELOOP, errno.ENOTDIR)
    (tmp_path / "run" / "planner" / "staging").unlink()
    os.mkfifo(tmp_path / "run" / "planner" / "staging")
    refused: list[int] = []

    def open_fifo() -> None:
        try:
            os.close(open_agent_dir(tmp_path / "run", "planner/staging"))
        except OSError as exc:
            refused.append(exc.errno or 0)

    _quick(open_fifo)
    assert refused == [errno.ENOTDIR]


def test_read_agent_file_by_name_in_an_open_folder(tmp_path: Path) -> None:
    (tmp_path / "task-01.md").write_text("# Goal\n", encoding="utf-8")
    os.mkfifo(tmp_path / "task-02.md")
    (tmp_path / "task-03.md").symlink_to(tmp_path / "task-01.md")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert read_agent_file("task-01.md", dir_fd=fd) == "# Goal\n"
        assert read_agent_file("task-02.md", dir_fd=fd) is None
        assert read_agent_file("task-03.md", dir_fd=fd) is None
    finally:
        os.close(fd)

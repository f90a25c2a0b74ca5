"""Where the user-level server lives, and the port it gets back."""

from __future__ import annotations

import socket
from pathlib import Path

from orchestra.prefect.userserver import PORT_FILE, last_port, user_home


class TestUserHome:
    def test_under_xdg_data_home(self, tmp_path: Path) -> None:
        env = {"XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path / "home")}
        assert user_home(env) == tmp_path / "data" / "orchestra" / "server"

    def test_default_is_local_share(self, tmp_path: Path) -> None:
        """Unset, or relative (the XDG spec says to ignore it then): ~/.local/share."""
        for env in ({"HOME": str(tmp_path)}, {"HOME": str(tmp_path), "XDG_DATA_HOME": "rel"}):
            assert user_home(env) == tmp_path / ".local" / "share" / "orchestra" / "server"


class TestLastPort:
    def test_free_port_is_given_back(self, tmp_path: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        (tmp_path / PORT_FILE).write_text(f"{port}\n", encoding="utf-8")
        assert last_port(tmp_path) == port

    def test_port_in_use_or_unknown_is_not(self, tmp_path: Path) -> None:
        assert last_port(tmp_path) is None
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            (tmp_path / PORT_FILE).write_text(f"{sock.getsockname()[1]}\n", encoding="utf-8")
            assert last_port(tmp_path) is None

"""A local Postgres cluster for the Prefect server (``server.database: postgres``).

Parallel and multi-host runs need a Prefect server on Postgres: on SQLite, concurrent writers
wait on "database is locked" (HTTP 503 and client back-offs, up to 32 s). This starts a cluster
from Debian's ``postgresql`` package (``apt-get install postgresql``) with its data under
``.orchestra/postgres/``, listening on 127.0.0.1 only, with a password (scram-sha-256) kept in
``.orchestra/postgres/password`` (mode 0600), a ``prefect`` database and the ``pg_trgm``
extension Prefect's migrations want. :meth:`LocalPostgres.start` returns the
``PREFECT_API_DATABASE_CONNECTION_URL`` (``postgresql+asyncpg://...``).

Postgres refuses to run as root: as root, every Postgres command runs as the ``postgres`` user
(``ORCHESTRA_PG_USER`` to choose another), which then owns the data folder.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from orchestra.errors import ProjectError
from orchestra.prefect.server import free_port

DATABASE = "prefect"
ROLE = "orchestra"
INSTALL_HINT = "install Debian's postgresql package (apt-get install postgresql)"


def pg_bindir() -> Path:
    """The folder of ``initdb``/``pg_ctl``: the newest ``/usr/lib/postgresql/<v>/bin``, or PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=_version)
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    msg = f"no Postgres server binaries (pg_ctl) found; {INSTALL_HINT}"
    raise ProjectError(msg)


def _version(path: Path) -> float:
    try:
        return float(path.parent.parent.name)
    except ValueError:
        return 0.0


@dataclass
class LocalPostgres:
    """A Postgres cluster under ``state_dir`` (``<project>/.orchestra/postgres``)."""

    state_dir: Path

    @property
    def data_dir(self) -> Path:
        """The cluster's data folder."""
        return self.state_dir / "data"

    @property
    def log_file(self) -> Path:
        """Postgres' own log."""
        return self.state_dir / "postgres.log"

    def _run_as(self) -> str | None:
        return os.environ.get("ORCHESTRA_PG_USER", "postgres") if os.geteuid() == 0 else None

    def _pg(self, tool: str, *args: str, env: dict[str, str] | None = None) -> str:
        argv = [str(pg_bindir() / tool), *args]
        user = self._run_as()
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env={**os.environ, **(env or {})},
            cwd=self.state_dir,
        )
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip()[-800:]
            msg = f"{tool} {' '.join(args[:3])} failed for {str(self.data_dir)!r}: {detail}"
            raise ProjectError(msg)
        return proc.stdout

    def _prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        user = self._run_as()
        if user is None:
            return
        try:
            entry = pwd.getpwnam(user)
        except KeyError as exc:
            msg = f"user {user!r} does not exist (Postgres refuses root); {INSTALL_HINT} or set ORCHESTRA_PG_USER"
            raise ProjectError(msg) from exc
        os.chown(self.state_dir, entry.pw_uid, entry.pw_gid)
        probe = subprocess.run(
            ["runuser", "-u", user, "--", "test", "-w", str(self.state_dir)], check=False
        )
        if probe.returncode != 0:
            msg = (
                f"user {user!r} cannot reach {str(self.state_dir)!r} (a parent folder is private); "
                "put the project where that user can traverse, or run as a non-root user"
            )
            raise ProjectError(msg)

    @property
    def password_file(self) -> Path:
        """The role's password (0600, owned by whoever started the cluster first)."""
        return self.state_dir / "password"

    def _init(self) -> None:
        password = secrets.token_urlsafe(24)
        self.password_file.write_text(password + "\n", encoding="utf-8")
        self.password_file.chmod(0o600)
        pwfile = self.state_dir / ".initdb-password"
        pwfile.write_text(password + "\n", encoding="utf-8")
        user = self._run_as()
        if user:
            entry = pwd.getpwnam(user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        pwfile.chmod(0o600)
        try:
            self._pg(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                ROLE,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C",
            )
        finally:
            pwfile.unlink(missing_ok=True)

    @property
    def port_file(self) -> Path:
        """The port the cluster was last started on."""
        return self.state_dir / "port"

    def running(self) -> bool:
        """Whether the cluster's postmaster is up."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        try:
            self._pg("pg_ctl", "-D", str(self.data_dir), "status")
        except ProjectError:
            return False
        return True

    def start(self, port: int = 0) -> str:
        """Start (initialising on first use) and return the database URL; idempotent."""
        self._prepare()
        if not (self.data_dir / "PG_VERSION").exists():
            self._init()
        if not self.running():
            port = port or free_port()
            opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories=''"
            opts += " -c max_connections=200"
            self._pg(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                opts,
                "-w",
                "start",
            )
            self.port_file.write_text(f"{port}\n", encoding="utf-8")
            self._ensure_database()
        return self.url()

    def _psql(self, database: str, sql: str) -> str:
        return self._pg(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port()),
            "-U",
            ROLE,
            "-d",
            database,
            "-tAc",
            sql,
            env={"PGPASSWORD": self.password()},
        )

    def _ensure_database(self) -> None:
        # DATABASE is our constant, never input.
        exists = "SELECT 1 FROM pg_database WHERE datname = 'prefect'"
        if self._psql("postgres", exists).strip() != "1":
            self._psql("postgres", f"CREATE DATABASE {DATABASE}")
        self._psql(DATABASE, "CREATE EXTENSION IF NOT EXISTS pg_trgm")

    def password(self) -> str:
        """The role's password."""
        return self.password_file.read_text(encoding="utf-8").strip()

    def port(self) -> int:
        """The port the cluster listens on."""
        return int(self.port_file.read_text(encoding="utf-8").strip())

    def url(self) -> str:
        """``PREFECT_API_DATABASE_CONNECTION_URL`` for this cluster."""
        return f"postgresql+asyncpg://{ROLE}:{self.password()}@127.0.0.1:{self.port()}/{DATABASE}"

    def stop(self) -> bool:
        """Stop the cluster (fast shutdown); False when it was not running."""
        if not self.running():
            return False
        self._pg("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        return True

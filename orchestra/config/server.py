"""The `server:` section: which Prefect server a project's cycles use, and when it stops."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from orchestra.config.strict import Strict

ServerDatabase = Literal["sqlite", "postgres"]
ServerScope = Literal["user", "project"]


class ServerConfig(Strict):
    scope: ServerScope | None = None
    """Which Prefect server this project's cycles use when PREFECT_API_URL is not set: `user`,
    the one Orchestra-managed server of this user, shared by all its projects (its home is
    $XDG_DATA_HOME/orchestra/server, else ~/.local/share/orchestra/server); `project`, a server
    of the project's own (home .orchestra/prefect), e.g. for an isolated database. Default:
    user, or project with `database: postgres`."""
    database: ServerDatabase = "sqlite"
    """Database of the project's own Prefect server: sqlite (one file), or postgres (a local
    cluster under .orchestra/postgres; what parallel and multi-host runs need, since SQLite
    locks under concurrent writers). The user-level server is always sqlite."""
    idle_stop_minutes: float | None = Field(60.0, gt=0, examples=[60, 240])
    """An Orchestra-managed server stops itself after this many minutes with no flow run
    running, pending, paused or scheduled and no active schedule; the next cycle starts it
    again. Null: it runs until `orchestra server stop`. Taken from the config of the command
    that starts the server: for the user-level one, set it in ~/.config/orchestra/config.yaml."""

    @model_validator(mode="after")
    def _postgres_is_own(self) -> ServerConfig:
        if self.database == "postgres" and self.scope == "user":
            msg = (
                "server.database: postgres needs a server of the project's own, but"
                " server.scope is 'user' (the user-level server, shared by every project, is"
                " SQLite); set server.scope: project, or remove server.database"
            )
            raise ValueError(msg)
        return self

    @property
    def own(self) -> bool:
        """Whether the project asks for a server of its own."""
        return self.scope == "project" or (self.scope is None and self.database == "postgres")

"""``ORCHESTRA_*`` variables: string keys keep their text, our non-config names are exempt (and the
Compose stack's services load their config), anything else is an error naming the variable."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestra.config.environment import NOT_CONFIG_KEYS, takes_string
from orchestra.config.loader import load_config
from orchestra.config.models import OrchestraConfig
from orchestra.config.schema import json_schema
from orchestra.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker" / "compose.yaml"
GOAL = "ORCHESTRA_WORKFLOWS__INFINITE_ORCHESTRA__GOAL"


@pytest.fixture
def no_user_file(tmp_path: Path) -> Path:
    """A user config path that does not exist: the real ~/.config file never leaks in."""
    return tmp_path / "home" / "orchestra" / "config.yaml"


def load(env: dict[str, str], user_file: Path, project: Path | None = None) -> OrchestraConfig:
    return load_config(project, environ=env, user_file=user_file).config


class TestStringValues:
    """A value for a string key is that string, whatever YAML would make of it."""

    @pytest.mark.parametrize(
        "goal",
        ["[draft] fix", "Speed up #1 hotspot", "Fix: x", "yes", "1.10", "null", "{a: b}", " x "],
    )
    def test_goal_kept_as_written(self, goal: str, no_user_file: Path) -> None:
        config = load({GOAL: goal}, no_user_file)
        assert config.workflows.infinite_orchestra.goal == goal

    def test_worker_env_value_kept(self, no_user_file: Path) -> None:
        """Values in a string mapping (a worker's env) stay strings too."""
        config = load(
            {"ORCHESTRA_WORKERS__CODER__ENV__TOKEN": "0x10 # not a comment"}, no_user_file
        )
        assert config.workers["coder"].env == {"token": "0x10 # not a comment"}  # names: lower case

    def test_model_name_kept(self, no_user_file: Path) -> None:
        """An optional string (a model name) is the text given, not a number."""
        config = load({"ORCHESTRA_WORKERS__CODER__MODEL": "4.0"}, no_user_file)
        assert config.workers["coder"].model == "4.0"

    def test_other_types_still_read_as_yaml(self, no_user_file: Path) -> None:
        """Numbers, switches, lists and null are read as YAML."""
        config = load(
            {
                "ORCHESTRA_LIMITS__MAX_CYCLES_PER_DAY": "4",
                "ORCHESTRA_UI__DEBUG": "yes",
                "ORCHESTRA_WORKERS__CODER__PASS_ENV": "[A_KEY, B_*]",
                "ORCHESTRA_LIMITS__MAX_COST_USD_PER_CYCLE": "2.5",
            },
            no_user_file,
        )
        assert config.limits.max_cycles_per_day == 4
        assert config.ui.debug is True
        assert config.workers["coder"].pass_env == ["A_KEY", "B_*"]
        assert config.limits.max_cost_usd_per_cycle == 2.5

    def test_unparseable_value_is_a_config_error(self, no_user_file: Path) -> None:
        """A value YAML cannot read is a ConfigError naming the variable, not a traceback."""
        name = "ORCHESTRA_WORKERS__CODER__PASS_ENV"
        with pytest.raises(ConfigError) as caught:
            load({name: "[A, B"}, no_user_file)
        message = str(caught.value)
        assert name in message
        assert "workers.coder.pass_env" in message
        assert "YAML value" in message

    def test_wrong_type_names_the_variable(self, no_user_file: Path) -> None:
        name = "ORCHESTRA_LIMITS__MAX_CYCLES_PER_DAY"
        with pytest.raises(ConfigError) as caught:
            load({name: "many"}, no_user_file)
        assert f"environment variable {name}: limits.max_cycles_per_day" in str(caught.value)

    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            (("workflows", "infinite_orchestra", "goal"), True),
            (("git", "integration"), True),
            (("git", "verify"), True),
            (("workers", "any", "docker", "image"), True),
            (("limits", "max_cycles_per_day"), False),
            (("workers", "any", "pass_env"), False),
            (("ui", "debug"), False),
            (("no", "such", "key"), True),
        ],
    )
    def test_takes_string(self, path: tuple[str, ...], expected: bool) -> None:
        assert takes_string(path) is expected


class TestNotConfigKeys:
    """Our documented non-config names are skipped; any other ORCHESTRA_* must be a key."""

    def test_host_path_map_is_exempt(self, no_user_file: Path) -> None:
        """The Compose worker's ORCHESTRA_HOST_PATH_MAP is not read as a config key."""
        config = load({"ORCHESTRA_HOST_PATH_MAP": "/project=/home/me/repo"}, no_user_file)
        assert config == load({}, no_user_file)

    @pytest.mark.parametrize("name", sorted(NOT_CONFIG_KEYS))
    def test_every_documented_name_is_exempt(self, name: str, no_user_file: Path) -> None:
        load({name: "x"}, no_user_file)

    def test_unknown_name_errors_with_variable_and_fix(self, no_user_file: Path) -> None:
        name = "ORCHESTRA_HOST_PATH_MAPS"
        with pytest.raises(ConfigError) as caught:
            load({name: "/project=/x"}, no_user_file)
        message = str(caught.value)
        assert f"environment variable {name}: unknown key 'host_path_maps'" in message
        assert "unset the variable or fix its spelling" in message
        assert "ORCHESTRA_HOST_PATH_MAP" in message.split(name, 1)[1]

    def test_listed_in_the_schema(self) -> None:
        """`orchestra schema` lists every exempt name with what it is for."""
        text = json_schema()["description"]
        for name, what in NOT_CONFIG_KEYS.items():
            assert f"{name}: {what}" in text

    def test_every_name_the_repository_reads_is_exempt(self) -> None:
        """An ORCHESTRA_* variable our code, tests or scripts read (ORCHESTRA_TEST_AIDER points
        the real-agent tests at aider) must not stop every config load that sees it."""
        read = re.compile(r"(?:environ(?:\.get\(|\[)|getenv\()\s*[\"'](ORCHESTRA_[A-Z0-9_]+)")
        shell = re.compile(r"\$\{?(ORCHESTRA_[A-Z0-9_]+)")
        names: set[str] = set()
        for folder in ("orchestra", "flows", "deployments", "tests", "scripts", "bench"):
            for path in (REPO / folder).rglob("*"):
                if path.suffix in {".py", ".sh"} and path.is_file():
                    text = path.read_text(encoding="utf-8")
                    names |= set(read.findall(text)) | set(shell.findall(text))
        config_keys = {n for n in names if "__" in n}  # ORCHESTRA_MEMORY__BACKEND and the like
        assert sorted(names - config_keys - set(NOT_CONFIG_KEYS)) == []

    def test_listed_in_docker_docs(self) -> None:
        docs = (REPO / "docs" / "docker.md").read_text(encoding="utf-8")
        for name in NOT_CONFIG_KEYS:
            assert f"`{name}`" in docs, name


# --- the Compose stack's services ----------------------------------------------------------------

_COMPOSE_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: str, shell: dict[str, str]) -> str:
    """Compose's variable substitution: ``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-d}``, ``${VAR-d}``,
    ``${VAR:+d}``, ``${VAR+d}`` (``:`` treats an empty value as unset)."""

    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["plain"]:
            return shell.get(match["plain"], "")
        name, op, arg = match["braced"], match["op"] or "", match["arg"] or ""
        present = name in shell and (shell[name] != "" or not op.startswith(":"))
        if op.endswith("-"):
            return shell[name] if present else interpolate(arg, shell)
        if op.endswith("+"):
            return interpolate(arg, shell) if present else ""
        if op.endswith("?") and not present:
            pytest.fail(f"compose requires {name}: {arg}")
        return shell.get(name, "")

    return _COMPOSE_VAR.sub(one, value)


def service_env(service: dict[str, Any], shell: dict[str, str]) -> dict[str, str]:
    """The environment Compose gives a service's container (mapping or list form)."""
    raw = service.get("environment") or {}
    items = (
        raw.items() if isinstance(raw, dict) else (str(e).partition("=")[::2] for e in raw or [])
    )
    return {k: interpolate("" if v is None else str(v), shell) for k, v in items}


def test_interpolate_like_compose() -> None:
    shell = {"SET": "v", "EMPTY": ""}
    assert interpolate("${SET:-d}/${UNSET:-d}/${EMPTY:-d}/${EMPTY-d}", shell) == "v/d/d/"
    assert interpolate("$$HOME=$SET ${SET} ${UNSET}", shell) == "$HOME=v v "
    assert interpolate("${SET:+on}${UNSET:+on}", shell) == "on"


SHELLS = {
    "defaults": {},
    "make stack-up": {"ORCHESTRA_PROJECT": str(REPO), "DOCKER_GID": "999"},
    "sqlite memory": {"ORCHESTRA_PROJECT": "/srv/repo", "ORCHESTRA_MEMORY__BACKEND": "sqlite"},
}


@pytest.mark.parametrize("shell", SHELLS.values(), ids=list(SHELLS))
@pytest.mark.parametrize(
    "name", sorted(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"])
)
def test_every_compose_service_loads_its_config(
    name: str, shell: dict[str, str], no_user_file: Path
) -> None:
    """The exact environment of each service in docker/compose.yaml loads the project's config
    (the worker mounts this repository at /project, so its orchestra.yaml is the one read)."""
    service = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"][name]
    env = service_env(service, shell)
    load(env, no_user_file, project=REPO)


def test_worker_sets_the_host_path_map() -> None:
    """The worker does get ORCHESTRA_HOST_PATH_MAP (the test above covers a real case)."""
    service = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    env = service_env(service["orchestra-worker"], SHELLS["make stack-up"])
    assert env["ORCHESTRA_HOST_PATH_MAP"] == f"/project={REPO}"

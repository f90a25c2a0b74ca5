"""``ORCHESTRA_*`` environment variables: which are config keys, and how their values are read.

``ORCHESTRA_A__B=value`` sets the config key ``a.b`` (``__`` separates levels). A value stays the
string it is when the key takes a string (a goal of ``"[draft] fix"`` or ``"Speed up #1
hotspot"`` is kept as written); for any other key (numbers, switches, lists, mappings, ``null``)
it is read as YAML. A few ``ORCHESTRA_*`` names are ours but are not config keys
(:data:`NOT_CONFIG_KEYS`); they are skipped here, and every other name must be a config key.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from orchestra.config.models import OrchestraConfig
from orchestra.errors import ConfigError

ENV_PREFIX = "ORCHESTRA_"


#: ``ORCHESTRA_*`` names Orchestra or its stack uses that are not config keys, with what each
#: is for. `orchestra schema` and docs/docker.md list them; any other name must be a config key.
NOT_CONFIG_KEYS: dict[str, str] = {
    "ORCHESTRA_HOST_PATH_MAP": (
        "path prefix in the worker container = the same folder on the Docker host, for the bind"
        " mounts of step containers (set by docker/compose.yaml)"
    ),
    "ORCHESTRA_PROJECT": "the project folder docker/compose.yaml mounts at /project",
    "ORCHESTRA_CONFIG": "reserved for a config file path (not read yet)",
    "ORCHESTRA_IMAGE": "the image of the Compose worker (docker/compose.yaml)",
    "ORCHESTRA_BASE_IMAGE": "the base image the Compose worker image is built from",
    "ORCHESTRA_UID": "the uid the orchestrator image runs as (build argument)",
    "ORCHESTRA_GID": "the gid the orchestrator image runs as (build argument)",
    "ORCHESTRA_TEST_IMAGE": "the test image scripts/build-test-image.sh builds",
    "ORCHESTRA_TEST_AIDER": "the aider executable the real-agent tests run (default: make aider's)",
    "ORCHESTRA_PG_USER": "the user Postgres runs as when Orchestra runs as root (default postgres)",
    "ORCHESTRA_BENCH_DIR": "where the workspace benchmark builds its repository",
    "ORCHESTRA_TEST_ARTIFACTS": "where tests keep their artifacts (the browser test's screenshots)",
}


def not_config_keys_text() -> str:
    """The exempt names, one ``NAME: what`` per line (for the schema and error messages)."""
    return "\n".join(f"{name}: {what}" for name, what in NOT_CONFIG_KEYS.items())


@dataclass(frozen=True)
class EnvSetting:
    """One config key set by one environment variable."""

    variable: str
    path: tuple[str, ...]
    value: Any

    def tree(self) -> dict[str, Any]:
        """The nested mapping this variable sets (``{"a": {"b": value}}``)."""
        tree: dict[str, Any] = {self.path[-1]: self.value}
        for part in reversed(self.path[:-1]):
            tree = {part: tree}
        return tree


def _arms(annotation: Any) -> list[Any]:
    """The alternatives of a union annotation (one item for anything else)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return list(get_args(annotation))
    return [annotation]


def _children(annotation: Any, key: str) -> list[Any]:
    """The annotations ``key`` may have below a value of ``annotation``."""
    found: list[Any] = []
    for arm in _arms(annotation):
        if isinstance(arm, type) and issubclass(arm, BaseModel):
            field = arm.model_fields.get(key)
            if field is not None:
                found.append(field.annotation)
        elif get_origin(arm) is dict:
            found.append(get_args(arm)[1])
    return found


def _takes_string(annotation: Any) -> bool:
    for arm in _arms(annotation):
        if arm is str:
            return True
        if get_origin(arm) is Literal and all(isinstance(v, str) for v in get_args(arm)):
            return True
    return False


def takes_string(path: tuple[str, ...]) -> bool:
    """Whether the config key at ``path`` takes a string (an unknown key counts as one)."""
    current: list[Any] = [OrchestraConfig]
    for key in path:
        current = [child for ann in current for child in _children(ann, key)]
        if not current:
            return True  # an unknown key: validation names it; its value does not matter
    return any(_takes_string(ann) for ann in current)


def _value(variable: str, path: tuple[str, ...], raw: str) -> Any:
    if takes_string(path) or not raw.strip():
        return raw
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        reason = str(exc).replace("\n", " ")
        msg = (
            f"environment variable {variable} is not a valid value for {'.'.join(path)}:"
            f" {reason}; write it as a YAML value (a number, true/false, [a, b] or {{k: v}})"
        )
        raise ConfigError(msg) from exc


def env_settings(environ: Mapping[str, str]) -> list[EnvSetting]:
    """The config keys the ``ORCHESTRA_*`` variables of ``environ`` set, sorted by name."""
    found: list[EnvSetting] = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in NOT_CONFIG_KEYS:
            continue
        path = tuple(p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p)
        if path:
            found.append(EnvSetting(name, path, _value(name, path, raw)))
    return found

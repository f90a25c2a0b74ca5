"""Layered configuration loading with provenance, so a typo names its file and key.

Order, later wins: built-in defaults → ``~/.config/orchestra/config.yaml`` → project
``orchestra.yaml`` → ``orchestra.local.yaml`` → explicit overlays (``--config``) →
``ORCHESTRA_*`` environment variables (``ORCHESTRA_LIMITS__MAX_CYCLES_PER_DAY=4``; ``__``
separates levels; how values are read and which names are not config keys:
:mod:`orchestra.config.environment`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from orchestra.config.environment import NOT_CONFIG_KEYS, env_settings
from orchestra.config.models import OrchestraConfig
from orchestra.config.runtimes import legacy_runtime
from orchestra.errors import ConfigError

PROJECT_FILE = "orchestra.yaml"


LOCAL_FILE = "orchestra.local.yaml"


BUILTIN = "built-in defaults"


ENV_ORIGIN = "environment variable"


Tree = dict[str, Any]


KeyPath = tuple[str, ...]


def user_config_path() -> Path:
    """``$XDG_CONFIG_HOME/orchestra/config.yaml`` (default ``~/.config/...``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "orchestra" / "config.yaml"


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus where each setting came from."""

    config: OrchestraConfig
    sources: tuple[str, ...]


def read_yaml(path: Path) -> Tree:
    """Read one YAML mapping; an empty file is an empty mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read config file {str(path)!r}: {exc.strerror}; check the path"
        raise ConfigError(msg) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"config file {str(path)!r} is not valid YAML: {exc}"
        raise ConfigError(msg) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        msg = f"config file {str(path)!r} must hold a mapping at the top, not {type(data).__name__}"
        raise ConfigError(msg)
    return data


def _merge(
    base: Tree, over: Mapping[str, Any], origin: str, prov: dict[KeyPath, str], at: KeyPath
) -> None:
    for key, value in over.items():
        path = (*at, str(key))
        if (
            isinstance(value, Mapping)
            and isinstance(base.get(key), dict)
            and _same_kind(base[key], value)
        ):
            _merge(base[key], value, origin, prov, path)
        else:
            base[key] = (
                json.loads(json.dumps(value, default=str))
                if isinstance(value, (dict, list))
                else value
            )
        prov[path] = origin


def _same_kind(base: Mapping[str, Any], over: Mapping[str, Any]) -> bool:
    """A tagged section (``runtime: {kind: ...}``) whose kind changes is replaced, not merged:
    the settings of one runtime mean nothing to another."""
    return "kind" not in over or base.get("kind") == over["kind"]


def _layer(tree: Tree) -> Tree:
    """One file's (or variable's) tree, its worker profiles in today's runtime form."""
    workers = tree.get("workers")
    if isinstance(workers, dict):
        tree = {
            **tree,
            "workers": {
                wid: legacy_runtime(p) if isinstance(p, dict) else p for wid, p in workers.items()
            },
        }
    return tree


def _origin_of(loc: Sequence[int | str], prov: Mapping[KeyPath, str]) -> str:
    keys = tuple(str(p) for p in loc if isinstance(p, str))
    for end in range(len(keys), 0, -1):
        if keys[:end] in prov:
            return prov[keys[:end]]
    return BUILTIN


def _shown_input(loc: Sequence[int | str], value: object) -> str:
    """The offending value, unless it could carry a secret (env values, whole sections)."""
    if "env" in loc or isinstance(value, dict | list):
        return ""
    return f" (got {value!r})"


def _explain(exc: ValidationError, prov: Mapping[KeyPath, str]) -> str:
    lines = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        key = ".".join(str(p) for p in loc) or "(top level)"
        origin = _origin_of(loc, prov)
        if not loc:
            lines.append(str(err["msg"]).removeprefix("Value error, "))
        elif err["type"] == "extra_forbidden" and origin.startswith(ENV_ORIGIN):
            lines.append(
                f"{origin}: unknown key {key!r}; unset the variable or fix its spelling"
                f" (`orchestra schema`); ORCHESTRA_* names that are not config keys:"
                f" {', '.join(NOT_CONFIG_KEYS)}"
            )
        elif err["type"] == "extra_forbidden":
            lines.append(f"{origin}: unknown key {key!r}; check its spelling (`orchestra schema`)")
        else:
            reason = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{origin}: {key}: {reason}{_shown_input(loc, err.get('input'))}")
    if len(lines) == 1:  # the usual case: one line, so a CLI prints one line
        return f"invalid configuration: {lines[0]}"
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_config(
    project: Path | None = None,
    *,
    overlays: Sequence[Path] = (),
    environ: Mapping[str, str] | None = None,
    user_file: Path | None = None,
) -> LoadedConfig:
    """Load and validate the layered configuration for ``project``."""
    env = os.environ if environ is None else environ
    tree: Tree = OrchestraConfig().model_dump(mode="json")
    prov: dict[KeyPath, str] = {}
    sources = [BUILTIN]
    files: list[Path] = [user_file or user_config_path()]
    if project is not None:
        files += [project / PROJECT_FILE, project / LOCAL_FILE]
    for path in files:
        if path.is_file():
            _merge(tree, _layer(read_yaml(path)), str(path), prov, ())
            sources.append(str(path))
    for path in overlays:
        if not path.is_file():
            msg = f"config file {str(path)!r} does not exist; pass an existing file to --config"
            raise ConfigError(msg)
        _merge(tree, _layer(read_yaml(path)), str(path), prov, ())
        sources.append(str(path))
    from_env = env_settings(env)
    for setting in from_env:
        _merge(tree, _layer(setting.tree()), f"{ENV_ORIGIN} {setting.variable}", prov, ())
    if from_env:
        sources.append("environment")
    try:
        config = OrchestraConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, prov)) from exc
    return LoadedConfig(config=config, sources=tuple(sources))

"""A small TOML writer for the settings an adapter writes for its CLI (codex's ``config.toml``).

Enough of TOML for CLI settings: strings, booleans, numbers, arrays of those, and tables (nested
mappings, written as ``[a.b]`` sections after the keys of their parent).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from orchestra.errors import ConfigError

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v, where) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(str(k))} = {_value(v, where)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    msg = f"cli.config value {value!r} at {where!r} is not a TOML value; use text, numbers, booleans, lists or mappings"
    raise ConfigError(msg)


def dumps(data: Mapping[str, Any]) -> str:
    """``data`` as a TOML document."""
    lines: list[str] = []
    _table(data, [], lines)
    return "\n".join(lines).strip() + "\n"


def _table(data: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    tables = [(k, v) for k, v in data.items() if isinstance(v, Mapping)]
    scalars = [(k, v) for k, v in data.items() if not isinstance(v, Mapping)]
    if path and (scalars or not tables):
        lines.append(f"\n[{'.'.join(_key(p) for p in path)}]")
    for key, value in scalars:
        lines.append(f"{_key(str(key))} = {_value(value, '.'.join([*path, str(key)]))}")
    for key, value in tables:
        _table(value, [*path, str(key)], lines)

"""Config keys that are gone: an old config that still sets one loads, the key dropped with a
warning that names it (a ``FutureWarning``: shown to users by default, unlike a
``DeprecationWarning``)."""

from __future__ import annotations

import warnings
from typing import Any

#: Keys that never did anything, gone from the models and the schema, with why.
RETIRED_KEYS: dict[str, str] = {
    "tasks.default_auto_spawn": "the planner runs whenever the queue is empty",
    "ui.vision_timeout": "no step checks a UI",
}


def drop_retired(section: str, data: Any) -> Any:
    """``data`` of config section ``section`` without its retired keys, each warned about."""
    if not isinstance(data, dict):
        return data
    kept = dict(data)
    for key in [k for k in data if f"{section}.{k}" in RETIRED_KEYS]:
        del kept[key]
        why = RETIRED_KEYS[f"{section}.{key}"]
        msg = (
            f"config key {section}.{key} ({data[key]!r}) does nothing ({why}) and is ignored;"
            f" delete it from your config"
        )
        warnings.warn(msg, FutureWarning, stacklevel=2)
    return kept

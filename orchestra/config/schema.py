"""The JSON Schema of orchestra.yaml, generated from the config models (schema/ keeps a copy, a test keeps it in sync)."""

from __future__ import annotations

import json
from typing import Any

from orchestra.config.environment import not_config_keys_text
from orchestra.config.models import OrchestraConfig

ENVIRONMENT_NOTE = (
    "Any key can also be set by an environment variable ORCHESTRA_<KEY>, levels separated by"
    " `__` (ORCHESTRA_LIMITS__MAX_CYCLES_PER_DAY=4); the value of a string key is taken as"
    " written, any other value is read as YAML. These ORCHESTRA_* names are not config keys and"
    " are not read as such; any other ORCHESTRA_* variable must name a key:"
)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of orchestra.yaml, as written to schema/orchestra.schema.json."""
    schema = OrchestraConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Orchestra configuration (orchestra.yaml)"
    schema["description"] = (
        f"{schema.get('description', '')}\n\n{ENVIRONMENT_NOTE}\n{not_config_keys_text()}"
    )
    return schema


def schema_text() -> str:
    """The schema as stable, pretty JSON text."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"

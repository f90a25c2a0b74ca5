"""The JSON Schema of orchestra.yaml, generated from the config models (schema/ keeps a copy, a test keeps it in sync)."""

from __future__ import annotations

import json
from typing import Any

from orchestra.config.models import OrchestraConfig


def json_schema() -> dict[str, Any]:
    """The JSON Schema of orchestra.yaml, as written to schema/orchestra.schema.json."""
    schema = OrchestraConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Orchestra configuration (orchestra.yaml)"
    return schema


def schema_text() -> str:
    """The schema as stable, pretty JSON text."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"

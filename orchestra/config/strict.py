"""The base of every config model: unknown keys are errors, every field is documented."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base: unknown keys are errors, defaults are validated, fields are documented."""

    model_config = ConfigDict(extra="forbid", validate_default=True, use_attribute_docstrings=True)

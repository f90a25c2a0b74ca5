"""The flows, found by entrypoint the way `prefect.yaml` names them, so the CLI can run a cycle
without importing the flows package (which sits above the library)."""

from __future__ import annotations

import importlib
from typing import Any

CYCLE_ENTRYPOINT = "flows.cycle:infinite_orchestra"


def load_flow(entrypoint: str = CYCLE_ENTRYPOINT) -> Any:
    """The flow object at ``module:attribute``."""
    module, _, attribute = entrypoint.partition(":")
    return getattr(importlib.import_module(module), attribute)

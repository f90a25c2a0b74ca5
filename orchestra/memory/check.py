"""`orchestra doctor memory`: connect, write, read back and delete one item."""

from __future__ import annotations

import json
import time
from typing import Any

from orchestra.errors import OrchestraError

Check = tuple[str, str, str]


def smoke_test(project: Any) -> Check:
    """Round-trip one item through the configured memory backend; say what failed."""
    from orchestra.memory import MemoryItem, open_store

    cfg = project.config.memory
    label = f"memory ({cfg.backend})"
    if cfg.backend == "none":
        return (label, "ok", "memory is switched off (memory.backend: none)")
    key = f"doctor:{time.time_ns()}"
    step = "connect"
    try:
        with open_store(
            cfg.backend, project=project.root, path=cfg.path, max_items=cfg.max_items
        ) as store:
            step = "write"
            store.put(MemoryItem("doctor", project.project_id, key, json.dumps({"ok": True})))
            step = "read back"
            item = store.get("doctor", project.project_id, key)
            if item is None or item.data() != {"ok": True}:
                return (label, "problem", f"wrote {key!r} but could not read it back")
            step = "delete"
            if not store.delete("doctor", project.project_id, key):
                return (label, "problem", f"could not delete {key!r}")
    except (OrchestraError, OSError) as exc:
        return (label, "problem", f"{step} failed: {exc}")
    return (label, "ok", "connected, wrote, read back and deleted one item")

"""Create or update the work pools in `deployments/pools.yaml`, with their job-variable defaults.

``prefect deploy`` needs the pools to exist and cannot set a pool's defaults; this does, and is
safe to run again (an existing pool's template defaults are updated in place).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

POOLS_FILE = Path(__file__).with_name("pools.yaml")


def load_pools(path: Path = POOLS_FILE) -> dict[str, dict[str, Any]]:
    """The pools declared in ``path`` (name → type, description, job_variables)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    pools = data.get("pools")
    if not isinstance(pools, dict) or not pools:
        msg = f"{path}: expected a `pools:` mapping of pool name → settings"
        raise SystemExit(msg)
    return pools


#: Prefect work pool types this script can template (Prefect's, not Orchestra's runtimes).
POOL_TYPES = ("process",)


def job_template(pool_type: str, job_variables: Mapping[str, Any]) -> dict[str, Any]:
    """The pool type's default base job template with ``job_variables`` as the new defaults."""
    if pool_type not in POOL_TYPES:
        msg = f"pool type {pool_type!r} is not supported here; use `process` (docs/scale-out.md)"
        raise SystemExit(msg)
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    properties = template["variables"]["properties"]
    for name, value in job_variables.items():
        if name not in properties:
            known = ", ".join(sorted(properties))
            msg = f"job variable {name!r} is not one of the {pool_type} pool's: {known}"
            raise SystemExit(msg)
        properties[name]["default"] = value
    return template


def apply_pools(pools: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Create each pool, or update its template and description; return what was done."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound

    done: list[str] = []
    with get_client(sync_client=True) as client:
        for name, spec in pools.items():
            pool_type = str(spec.get("type", "process"))
            template = job_template(pool_type, spec.get("job_variables") or {})
            description = spec.get("description")
            try:
                client.read_work_pool(name)
            except ObjectNotFound:
                client.create_work_pool(
                    WorkPoolCreate(
                        name=name,
                        type=pool_type,
                        description=description,
                        base_job_template=template,
                    )
                )
                done.append(f"created {name} ({pool_type})")
            else:
                client.update_work_pool(
                    name,
                    WorkPoolUpdate(description=description, base_job_template=template),
                )
                done.append(f"updated {name} ({pool_type})")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """Apply `pools.yaml` to the Prefect API in PREFECT_API_URL."""
    parser = argparse.ArgumentParser(prog="python -m deployments.pools", description=__doc__)
    parser.add_argument("--file", type=Path, default=POOLS_FILE, help="pools file")
    args = parser.parse_args(argv)
    for line in apply_pools(load_pools(args.file)):
        print(line)  # noqa: T201 - a command's output
    return 0


if __name__ == "__main__":
    sys.exit(main())

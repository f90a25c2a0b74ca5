"""Serve every Orchestra deployment from one long-running process on one host, without a work
pool or a worker: ``python -m deployments.serve``.

The deployments, their parameters and schedules are read from `prefect.yaml`, so they stay the
ones `prefect deploy` registers; schedules stay inactive (nothing runs on its own) unless
``--active`` is given. Stopping the process pauses them (Prefect's ``serve`` does that).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
PREFECT_YAML = REPO / "prefect.yaml"


def declared(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The deployments declared in `prefect.yaml`."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return list(data["deployments"])


def build(project: str, *, active: bool, path: Path = PREFECT_YAML) -> list[Any]:
    """One ``RunnerDeployment`` per declared deployment, for ``project``."""
    from prefect.schedules import Schedule

    from orchestra.prefect.launch import load_flow

    built = []
    for spec in declared(path):
        entrypoint = str(spec["entrypoint"])
        if ":" in entrypoint:  # file.py:function
            module, _, attribute = entrypoint.partition(":")
            module = module.removesuffix(".py").replace("/", ".")
        else:  # package.module.function (the pool deployment's form)
            module, _, attribute = entrypoint.rpartition(".")
        flow = load_flow(f"{module}:{attribute}")
        parameters = {**(spec.get("parameters") or {}), "project": project}
        schedules = [
            Schedule(interval=timedelta(seconds=int(s["interval"])), active=active)
            for s in spec.get("schedules") or []
            if "interval" in s
        ]
        built.append(
            flow.to_deployment(
                name=spec["name"],
                description=spec.get("description"),
                parameters=parameters,
                schedules=schedules or None,
                concurrency_limit=(spec.get("concurrency_limit") or {}).get("limit"),
            )
        )
    return built


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the deployments until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m deployments.serve", description=__doc__)
    parser.add_argument("--project", default=".", help="git repository the cycles work on")
    parser.add_argument(
        "--active", action="store_true", help="switch the schedules on (default: inactive)"
    )
    args = parser.parse_args(argv)
    from prefect import serve

    serve(*build(str(Path(args.project).resolve()), active=args.active))
    return 0


if __name__ == "__main__":
    sys.exit(main())

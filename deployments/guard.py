"""`prefect deploy` refuses to replace a deployment that the other prefect.yaml made.

Orchestra ships two deployment files with the same deployment names: ``prefect.yaml`` (flows
run in the folder `prefect deploy` ran in, on this host) and ``docker/prefect.yaml`` (flows run
in the Compose stack's worker, on the project it mounts at ``/project``). Deploying one onto a
server that holds the other's replaced it silently (same name, same ID), and its next run
failed in the pull step, in a folder that exists only on the other side.

Each file runs :func:`refuse_replacing` as its build step, before anything is written: when a
deployment of the same name was made from the other file (told apart by its pull step's working
directory: ``/project`` is the stack's), the deploy stops and says which, where, and what to do.
A deployment without a working directory (made by a cycle, or by ``deployments.serve``) is
replaced as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

Origin = Literal["local", "stack"]
#: Where the stack's worker mounts the project (docker/compose.yaml, docker/prefect.yaml).
STACK_DIRECTORY = "/project"
FILES: dict[Origin, str] = {"local": "prefect.yaml", "stack": "docker/prefect.yaml"}
REPO = Path(__file__).resolve().parents[1]
WHAT: dict[Origin, str] = {
    "local": "runs flows in a folder on the host it was deployed from",
    "stack": "runs flows in the Compose stack's worker, on /project",
}


def origin_of(pull_steps: Iterable[Mapping[str, Any]] | None) -> tuple[Origin, str] | None:
    """Which file a deployment came from, by its pull step's working directory (and that
    directory); None when it sets none."""
    for step in pull_steps or ():
        for name, args in step.items():
            if name.endswith("set_working_directory") and isinstance(args, Mapping):
                directory = str(args.get("directory", ""))
                return ("stack" if directory == STACK_DIRECTORY else "local"), directory
    return None


def declared(prefect_file: Path) -> list[str]:
    """The deployment names ``prefect_file`` declares."""
    data = yaml.safe_load(prefect_file.read_text(encoding="utf-8")) or {}
    return [str(d["name"]) for d in data.get("deployments") or []]


def conflict(name: str, full_name: str, mine: Origin, existing: Any) -> str:
    """Why deploying ``name`` from ``mine``'s file must not replace ``existing`` ('' if fine)."""
    found = origin_of(getattr(existing, "pull_steps", None))
    if found is None or found[0] == mine:
        return ""
    theirs, directory = found
    return (
        f"deployment {full_name!r} on this Prefect server was made from {FILES[theirs]} (it"
        f" {WHAT[theirs]}: working directory {directory!r}); deploying {name!r} from"
        f" {FILES[mine]} would replace it, and the next run would fail in a folder that does"
        f" not exist there. Deploy {FILES[mine]} to another Prefect server (PREFECT_API_URL),"
        f" or delete the other one first: `prefect deployment delete {full_name}`"
    )


def refuse_replacing(origin: Origin) -> dict[str, str]:
    """Build step of ``origin``'s file: stop the deploy before any of its deployments would
    replace one made from the other file. Returns the origin (a step's outputs)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from orchestra.prefect.schedules import DEPLOYMENTS

    full_names = {full.split("/", 1)[1]: full for full in DEPLOYMENTS}
    problems = []
    with get_client(sync_client=True) as client:
        for name in declared(REPO / FILES[origin]):
            full_name = full_names.get(name)
            if full_name is None:
                continue
            try:
                existing = client.read_deployment_by_name(full_name)
            except ObjectNotFound:
                continue
            if problem := conflict(name, full_name, origin, existing):
                problems.append(problem)
    if problems:
        raise RuntimeError("\n".join(problems))
    return {"origin": origin}

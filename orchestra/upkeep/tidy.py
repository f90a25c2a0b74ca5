"""What a cycle tidies before it starts, so a crash leaves nothing the next cycle trips on.

In order: containers of dead owners are removed, dead claims go back to the queue (attempt
counted), clones no longer claimed are removed (agents still working in them are killed first),
old run folders are pruned, archived task files beyond ``limits.keep_done`` are packed into a
compressed archive. Task files are never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestra.project import Project
from orchestra.queue.claims import default_is_alive
from orchestra.runtime import EngineClientFactory
from orchestra.upkeep.clones import remove_orphan_clones
from orchestra.upkeep.containers import sweep_orphans
from orchestra.upkeep.retention import pack_archive, prune_runs


@dataclass
class Tidied:
    """What the start-of-cycle housekeeping found and did."""

    containers: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    clones: list[str] = field(default_factory=list)
    pruned_runs: int = 0
    packed: list[str] = field(default_factory=list)


def tidy(
    project: Project, run_id: str, *, engine_client: EngineClientFactory | None = None
) -> Tidied:
    """Run every start-of-cycle clean-up; call it while holding the cycle lock."""
    done = Tidied()
    done.containers = sweep_orphans(project, engine_client=engine_client)
    done.recovered = [p.name for p in project.queue.recover(default_is_alive)]
    done.clones = remove_orphan_clones(project)
    keep = project.config.limits.keep_runs
    done.pruned_runs = len(prune_runs(project.runs_dir, keep=keep, current=run_id))
    keep_done = project.config.limits.keep_done
    if keep_done is not None:
        layout = project.layout
        for folder in (layout.done, layout.failed, layout.rejected):
            if packed := pack_archive(folder, keep=keep_done):
                done.packed.append(str(packed))
    return done

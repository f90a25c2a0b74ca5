"""Failover across agent CLIs: a step that fails for the model API's reasons (rate limit,
quota, overload, an outage) runs again at once with the next profile of its worker's
``fallback:`` list, which may use another CLI and another provider. The failed provider cools
down (honouring the wait its error named), so later steps go straight to the fallback; the
steps already done are kept. Each attempt passes the spending governor first, and is watched by
it while it runs when its CLI streams usage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from loguru import logger

from orchestra.agents.endpoints import host_port, model_endpoints
from orchestra.config.models import StepConfig, WorkerProfile
from orchestra.engine.failures import FailureClass
from orchestra.engine.livecap import UsageCheck
from orchestra.engine.spending import SpendGuard, records_spend
from orchestra.engine.step import StepContext, StepRecord
from orchestra.policy.cooldown import ProviderCooldowns
from orchestra.policy.governor import WINDOW_MARK
from orchestra.project import Project

#: Failure kinds that are the model API's (the fallback's provider may be fine).
MODEL_API_KINDS = frozenset({"rate_limited", "overloaded", "unreachable"})


@dataclass(frozen=True)
class NotRun:
    """No profile of the step could run it: why, and what kind of failure that is."""

    reason: str
    kind: FailureClass


def provider_of(profile: WorkerProfile) -> str:
    """``<cli>@<host:port>`` of the model API the profile's CLI calls."""
    urls = model_endpoints(profile.agent, profile.env)
    where = next((hp for url in urls if (hp := host_port(url))), "default")
    return f"{profile.agent}@{where}"


def chain(project: Project, worker: str) -> list[str]:
    """The profile of ``worker`` and its fallbacks, in order, each once."""
    return list(dict.fromkeys([worker, *project.worker(worker).fallback]))


def own_model(ctx: StepContext, worker: str) -> StepContext:
    """A fallback (a profile other than the step's ``worker``) runs its own model when it names
    one: a sticky or task model chosen for one CLI means nothing to another."""
    if ctx.worker_id == worker or not ctx.profile.model:
        return ctx
    return dataclasses.replace(ctx, model=ctx.profile.model)


def model_api_failure(record: StepRecord) -> bool:
    """A failure another provider might not have."""
    return record.status == "failed" and record.failure in MODEL_API_KINDS


def run_with_failover(
    project: Project,
    step: StepConfig,
    run: Callable[[StepConfig, UsageCheck | None], StepRecord],
    records: Sequence[StepRecord],
    guard: SpendGuard | None,
) -> StepRecord | NotRun:
    """Run ``step`` with its worker, then each fallback while the model API fails."""
    cooldowns = ProviderCooldowns(project.root)
    names = chain(project, step.worker)
    skipped: list[str] = []
    record: StepRecord | None = None
    for worker in names:
        profile = project.worker(worker)
        provider = provider_of(profile)
        if len(names) > 1 and (cooling := cooldowns.active(provider)):
            skipped.append(f"{worker}: {cooling}")
            continue
        handle, live = 0, None
        if guard is not None:
            spent, dearest = records_spend(records, project)
            stop, handle = guard.before_step(worker, spent, dearest)
            if stop and WINDOW_MARK not in stop:
                return NotRun(stop, "operator")  # a cap holds for every profile
            if stop:
                skipped.append(stop)
                continue
            live = guard.live_check(handle, spent)
        ran: StepRecord | None = None
        try:
            ran = run(step.model_copy(update={"worker": worker}), live)
        finally:
            if guard is not None:
                guard.after_step(handle, ran)
        record = ran
        if not model_api_failure(record) or worker == names[-1]:
            return record
        wait = cooldowns.note(provider, record.message)
        logger.bind(task_id=record.task_id, step=step.id, event="failover").warning(
            "{} · {}: {} failed ({}); {} cools down {:.0f} s; failing over",
            record.task_id,
            step.id,
            worker,
            record.message[:200],
            provider,
            wait,
        )
    if record is not None:
        return record
    why = f"{step.id}: no profile can run it now: " + "; ".join(skipped)
    outage = any(WINDOW_MARK not in s for s in skipped)
    return NotRun(why, "infrastructure" if outage else "operator")


def failovers(records: Sequence[StepRecord]) -> list[str]:
    """``implement: coder-claude → coder-codex (rate_limited)`` for each step that failed over:
    which profile did the work."""
    said: list[str] = []
    for before, after in pairwise(records):
        if before.step == after.step and model_api_failure(before):
            said.append(f"{before.step}: {before.worker} → {after.worker} ({before.failure})")
    return said

"""The cycle run's heartbeat, sent by a thread that stops the moment the cycle ends.

Prefect's own heartbeat thread sleeps in 1 s slices, and a sync flow joins it on exit: every
cycle ended on a whole second after it started, up to 1 s late (issue 21: cycle walls moved in
steps). :func:`engine_heartbeat_off` starts a cycle with Prefect's heartbeat off and hands its
interval to :func:`cycle_heartbeat`, which the cycle's body runs: the same
``prefect.flow-run.heartbeat`` event, at the same interval, from a thread that waits on an event
and so stops at once. A run started any other way (a deployment's worker) keeps Prefect's own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, copy_context

from loguru import logger
from prefect import __version__ as prefect_version
from prefect.context import FlowRunContext, SettingsContext, get_settings_context
from prefect.events import RelatedResource, emit_event
from prefect.events.related import tags_as_related_resources
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, Settings

_INTERVAL: ContextVar[int | None] = ContextVar("orchestra_cycle_heartbeat", default=None)
MINIMUM_SECONDS = 30  # Prefect's own floor for the flow-run heartbeat

THREAD_NAME = "orchestra-cycle-heartbeat"

_QUIET: list[tuple[Settings, Settings]] = []
"""(settings, the same without the heartbeat): the last pair built."""


def without_heartbeat(settings: Settings) -> Settings:
    """``settings`` with Prefect's flow-run heartbeat off; the last copy is kept, since a copy
    validates every setting (~0.1 s) and a cycle asks once per task."""
    cached = _QUIET[-1] if _QUIET else None
    if cached is None or cached[0] is not settings:
        quiet = settings.copy_with_update(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
        cached = (settings, quiet)
        _QUIET[:] = [cached]
    return cached[1]


@contextmanager
def quiet_flow_runs() -> Iterator[None]:
    """No Prefect heartbeat thread in the flow runs started in this block."""
    context = get_settings_context()
    with SettingsContext(profile=context.profile, settings=without_heartbeat(context.settings)):
        yield


@contextmanager
def engine_heartbeat_off() -> Iterator[None]:
    """Start the flow run called in this block without Prefect's heartbeat thread; its body's
    :func:`cycle_heartbeat` sends the heartbeat instead, at the interval configured."""
    context = get_settings_context()
    interval = context.settings.flows.heartbeat_frequency
    if interval is None:  # the user switched heartbeats off: nothing to send
        yield
        return
    token = _INTERVAL.set(max(interval, MINIMUM_SECONDS))
    try:
        with quiet_flow_runs():
            yield
    finally:
        _INTERVAL.reset(token)


def _event_template(context: FlowRunContext) -> tuple[dict[str, str], list[RelatedResource]]:
    """The resource and related resources of Prefect's own heartbeat event for this run."""
    run = context.flow_run
    assert run is not None
    resource = {
        "prefect.resource.id": f"prefect.flow-run.{run.id}",
        "prefect.resource.name": run.name or "",
        "prefect.version": prefect_version,
    }
    related = [
        RelatedResource.model_validate(
            {
                "prefect.resource.id": f"prefect.flow.{run.flow_id}",
                "prefect.resource.role": "flow",
                "prefect.resource.name": context.flow.name if context.flow else "",
            }
        )
    ]
    if run.deployment_id:
        related.append(
            RelatedResource.model_validate(
                {
                    "prefect.resource.id": f"prefect.deployment.{run.deployment_id}",
                    "prefect.resource.role": "deployment",
                }
            )
        )
    return resource, related + tags_as_related_resources(set(run.tags or []))


@contextmanager
def cycle_heartbeat() -> Iterator[None]:
    """Send the running flow's heartbeat while this block runs, if :func:`engine_heartbeat_off`
    took it from Prefect; stop without waiting when the block ends."""
    interval = _INTERVAL.get()
    context = FlowRunContext.get()
    if interval is None or context is None or context.flow_run is None:
        yield
        return
    resource, related = _event_template(context)
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            try:
                emit_event(event="prefect.flow-run.heartbeat", resource=resource, related=related)
            except Exception as exc:  # a missed heartbeat is not worth stopping the cycle for
                logger.debug("flow-run heartbeat not sent: {}", exc)
            stop.wait(interval)

    # The thread sees this block's settings (the API URL) through a copy of its context.
    thread = threading.Thread(
        target=copy_context().run, args=(beat,), name=THREAD_NAME, daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)

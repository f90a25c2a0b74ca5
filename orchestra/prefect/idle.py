"""``python -m orchestra.prefect.idle STATE``: stop an Orchestra-managed server once it is idle.

Started next to the server (:func:`orchestra.prefect.server.start_at`) when it has an
``idle_stop_minutes``. Every few seconds it asks the server's API, over plain HTTP (no Prefect
import: a few MB instead of Prefect's ~100), whether anything needs it: a flow run that is
running, pending, cancelling, paused or scheduled (a scheduled one may be a schedule's next run,
or the run a spending cap left for the next day), or a deployment with an active schedule.
Idle is the time since the last of: such a run or schedule seen, a flow run's end, a command
that connected (``server.active``, touched under the server's lock). Once idle for
``idle_stop_minutes`` it stops the server and removes its record under that lock, so a command
that is connecting waits and then starts a new one. It exits when the server is gone or
replaced.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestra.prefect.server import (
    SERVER_FILE,
    ServerRecord,
    is_server_process,
    kill_group,
    last_activity,
    read_record_at,
    start_lock,
)

BUSY_STATES = ["RUNNING", "PENDING", "CANCELLING", "PAUSED", "SCHEDULED"]
LONGEST_POLL_S = 30.0


def _post(api_url: str, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(  # noqa: S310 - our own server's http URL
        f"{api_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return json.loads(answer.read())


def _epoch(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def busy(api_url: str) -> tuple[bool, float]:
    """(whether a run or an active schedule needs the server, when the last run ended)."""
    runs = _post(
        api_url, "/flow_runs/count", {"flow_runs": {"state": {"type": {"any_": BUSY_STATES}}}}
    )
    if int(runs):
        return True, 0.0
    deployments = _post(
        api_url, "/deployments/filter", {"deployments": {"paused": {"eq_": False}}, "limit": 200}
    )
    if any(s.get("active") for d in deployments for s in d.get("schedules", [])):
        return True, 0.0
    last = _post(api_url, "/flow_runs/filter", {"sort": "END_TIME_DESC", "limit": 1})
    return False, _epoch(last[0].get("end_time")) if last else 0.0


def _log(line: str) -> None:
    sys.stdout.write(f"{time.ctime()}: {line}\n")  # the watchdog's log file (idle.log)
    sys.stdout.flush()


def _ours(state: Path) -> ServerRecord | None:
    record = read_record_at(state)
    if record is None or record.watchdog_pid != os.getpid() or not is_server_process(record.pid):
        return None
    return record


def watch(state: Path) -> str:
    """Watch the server recorded in ``state`` until it is stopped or gone; why it ended."""
    last_busy = time.time()
    while (record := _ours(state)) is not None:
        if record.idle_stop_minutes is None:
            return "no idle_stop_minutes"
        idle_s = record.idle_stop_minutes * 60
        try:
            needed, ended = busy(record.api_url)
        except (OSError, ValueError) as exc:  # not answering now: not a reason to stop it
            _log(f"the server did not answer ({exc})")
            needed, ended = True, 0.0
        now = time.time()
        if needed:
            last_busy = now
        since = max(last_busy, ended, last_activity(state))
        if now - since >= idle_s:
            with start_lock(state):
                if now - max(since, last_activity(state)) >= idle_s and _ours(state) == record:
                    kill_group(record.pid)
                    (state / SERVER_FILE).unlink(missing_ok=True)
                    return f"stopped pid {record.pid} after {now - since:.0f} s idle"
        time.sleep(min(LONGEST_POLL_S, max(1.0, idle_s / 10)))
    return "the server is gone or was replaced"


if __name__ == "__main__":
    _log(watch(Path(sys.argv[1])))

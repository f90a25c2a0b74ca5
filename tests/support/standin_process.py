"""The stand-in model API as a process of its own, the way a user's endpoint runs beside
Orchestra: ``python -m support.standin_process --hosts H1,H2 --key K --ready FILE --log FILE``
(with ``tests/`` on ``PYTHONPATH``).

It answers as :class:`support.real_agent.AiderScript` does (one task through plan, implement,
review, fix, review) or, with ``--script totient``, as :class:`support.real_history.TotientScript`
(more-itertools: plan, add ``totient``, approve). It listens on every host with one port, writes
its base URL (on the first host) to ``--ready`` once it listens, and appends one JSON line per
request to ``--log``: method, path, the Authorization header and, for a chat request, the role it
answered. SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from support.chat_api import ChatAPI, Recorded, Reply
from support.real_agent import AiderScript
from support.real_history import TotientScript

#: The scripts ``--script`` picks from.
SCRIPTS: dict[str, Callable[[], AiderScript | TotientScript]] = {
    "calc": AiderScript,
    "totient": TotientScript,
}


class LoggedScript:
    """A script that writes each request it answers to a JSONL file."""

    def __init__(self, script: AiderScript | TotientScript, log: Path) -> None:
        self.script = script
        self.log = log
        self._lock = threading.Lock()

    def write(self, line: dict[str, Any]) -> None:
        with self._lock, self.log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    def __call__(self, request: Recorded) -> Reply:
        reply = self.script(request)
        self.write({"method": "POST", "path": request.path, "role": self.script.roles[-1]})
        return reply


class LoggedAPI(ChatAPI):
    """ChatAPI that also logs every request that is not a chat completion (the /models probe)."""

    script: LoggedScript

    def _add(self, rec: Recorded) -> None:
        super()._add(rec)
        if not rec.path.endswith("/chat/completions"):
            auth = rec.headers.get("Authorization", rec.headers.get("authorization", ""))
            self.script.write({"method": rec.method, "path": rec.path, "authorization": auth})


def read_log(log: Path) -> list[dict[str, Any]]:
    """The requests the process logged, oldest first."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", required=True, help="comma-separated addresses to listen on")
    parser.add_argument("--key", required=True, help="the API key it accepts")
    parser.add_argument("--ready", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--script", choices=sorted(SCRIPTS), default="calc")
    args = parser.parse_args(argv)
    script = LoggedScript(SCRIPTS[args.script](), args.log)
    api = LoggedAPI(script, hosts=args.hosts.split(","), api_key=args.key)
    api.script = script
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with api:
        tmp = args.ready.with_suffix(".tmp")
        tmp.write_text(api.url, encoding="utf-8")
        tmp.replace(args.ready)
        stop.wait()


if __name__ == "__main__":
    main()

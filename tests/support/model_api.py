"""What the stand-in Messages and Responses APIs share: scripted turns, faults, the recording and
the loopback HTTP server (stdlib only).

A *script* is a callable ``f(exchange: Exchange) -> Turn``: it sees the request (its whole text,
how many model turns the conversation already holds) and answers with text, tool calls, or a
fault. Real CLIs send the whole conversation on every request, so the number of earlier model
turns says where a multi-turn session stands without any state on the server.

Faults (:class:`Fault`): an HTTP status with the provider's error JSON and an optional
``retry-after`` header (401, 429, 500, 529, ...), ``silent`` (accept, never answer until the
server stops), ``close`` (drop the connection before answering) and ``cut`` (start the stream,
then drop the connection mid-answer). ``fault=`` on the server applies one to every request.

Like :mod:`support.chat_api`, it listens on loopback or the Docker bridge gateway only.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.chat_api import check_bind_address


@dataclass(frozen=True)
class ToolCall:
    """One tool the model asks the CLI to run (Claude Code's ``Write``, codex's
    ``exec_command``), with its arguments."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Fault:
    """What goes wrong instead of an answer. ``kind``: status, silent, close or cut."""

    kind: str = "status"
    status: int = 500
    message: str = "stand-in fault"
    retry_after: str | None = None


@dataclass(frozen=True)
class Turn:
    """One scripted model answer."""

    text: str = ""
    tools: tuple[ToolCall, ...] = ()
    fault: Fault | None = None
    input_tokens: int = 1200
    output_tokens: int = 80


@dataclass
class Exchange:
    """One request as received, and what it says about the conversation."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    text: str = ""
    """Every text part of the request (system, messages, tool results), joined."""
    model_turns: int = 0
    """How many model answers the conversation already holds."""
    time: float = field(default_factory=time.time)
    turn: Turn | None = None

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), "")


Script = Callable[[Exchange], Turn]


def texts(value: Any) -> Iterable[str]:
    """Every string under a ``text``, ``content``, ``output``, ``input`` or ``instructions`` key
    (or a bare string) of a JSON value, depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)
    elif isinstance(value, dict):
        for key in ("text", "content", "output", "input", "instructions", "system", "messages"):
            if key in value:
                yield from texts(value[key])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops connections when many clients connect at once;
    # the kernel's SYN retry then takes seconds and a client times out.
    request_queue_size = 128
    api: ModelAPI

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # a client dropping its connection is normal here
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def do_GET(self) -> None:
        self.server.api.handle(self, None)

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.server.api.handle(self, body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def event(self, name: str | None, payload: dict[str, Any]) -> None:
        head = f"event: {name}\n" if name else ""
        self.wfile.write(f"{head}data: {json.dumps(payload)}\n\n".encode())
        self.wfile.flush()

    def drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class ModelAPI:
    """The server and its recording; subclasses speak one protocol (:meth:`handle`)."""

    def __init__(
        self,
        script: Script,
        *,
        hosts: Iterable[str] = ("127.0.0.1",),
        fault: Fault | None = None,
        api_key: str | None = None,
    ) -> None:
        self.hosts = list(hosts)
        for address in self.hosts:
            check_bind_address(address)
        self.script = script
        self.fault = fault
        self.api_key = api_key
        self.port = 0
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []
        self._ids = 0
        self.stopping = threading.Event()
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []

    # -- what subclasses implement --------------------------------------------------------
    def handle(self, handler: Handler, body: Any) -> None:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------
    def next_id(self, prefix: str) -> str:
        with self._lock:
            self._ids += 1
            return f"{prefix}{self._ids:06d}"

    def record(self, exchange: Exchange) -> Exchange:
        with self._lock:
            self._exchanges.append(exchange)
        return exchange

    @property
    def exchanges(self) -> list[Exchange]:
        """Every request so far, oldest first."""
        with self._lock:
            return list(self._exchanges)

    def gate(self, key: str) -> Fault | None:
        """The server-wide fault, or 401 for a ``key`` other than ``api_key``."""
        if self.fault is not None:
            return self.fault
        if self.api_key is not None and key != self.api_key:
            return Fault(status=401, message="invalid x-api-key")
        return None

    def choose(self, exchange: Exchange, key: str) -> Turn:
        """The turn for ``exchange``: the gate's fault, else the script's answer."""
        fault = self.gate(key)
        turn = Turn(fault=fault) if fault is not None else self.script(exchange)
        exchange.turn = turn
        return turn

    def early_fault(self, handler: Handler, fault: Fault, error_body: dict[str, Any]) -> bool:
        """Answer a fault that happens before any stream starts; False for ``cut``."""
        if fault.kind == "silent":
            self.stopping.wait()
            handler.drop()
            return True
        if fault.kind == "close":
            handler.drop()
            return True
        if fault.kind == "status":
            headers = {"retry-after": fault.retry_after} if fault.retry_after else {}
            handler.send_json(fault.status, error_body, headers)
            return True
        return False

    # -- lifecycle ------------------------------------------------------------------------
    def url_for(self, host: str, suffix: str = "") -> str:
        return f"http://{host}:{self.port}{suffix}"

    def start(self) -> ModelAPI:
        """Listen on every host with one port; a second call changes nothing."""
        if self._servers:
            return self
        for address in self.hosts:
            server = _Server((address, self.port), Handler)
            server.api = self
            self.port = server.server_address[1]
            self._servers.append(server)
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> ModelAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

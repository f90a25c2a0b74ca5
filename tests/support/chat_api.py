"""A stand-in OpenAI-compatible chat API for tests (stdlib only).

    from chat_api import ChatAPI, Reply

    with ChatAPI({"ROLE: reviewer": "...Verdict: APPROVE", None: "default text"}) as api:
        run_agent(base_url=api.url)            # api.url == "http://127.0.0.1:PORT/v1"
        assert api.requests[-1].body["model"] == "gpt-4o"

Endpoints: ``POST /v1/chat/completions`` (streaming SSE and plain JSON) and ``GET /v1/models``
(the ``/v1`` prefix is optional). Every request is recorded (:attr:`ChatAPI.requests`).
``fault=`` and ``api_key=`` apply to both endpoints (a preflight probes ``/models``).

The *script* decides each chat reply. It can be:

* a ``str`` – the same text every time;
* a ``dict`` ``{marker: reply}`` – the first marker that is a substring of the last user message
  wins; the ``None`` key (or ``default=``) is used when none matches. This is how a test gives the
  architect, coder, reviewer and fixer prompts different answers;
* a ``list`` (or any iterable) – a queue, one item per chat request, then ``default``;
* a callable ``f(request: Recorded) -> str | Reply``.

A reply is a ``str`` or a :class:`Reply`, which can also carry a fault: ``Reply.unauthorized()``
(401 with OpenAI's error JSON), ``Reply.silent()`` (accept, never answer until the server stops),
``Reply.close()`` (drop the connection without a response), ``Reply.error(status, message)``.
``ChatAPI(fault=...)`` applies one of those to every chat request; ``api_key=`` answers 401 to a
request whose ``Authorization: Bearer`` differs.

It listens on loopback or the Docker bridge gateway only, never on a wildcard address: a test must
not open a model API to the network. ``ChatAPI(hosts=("127.0.0.1", docker_bridge_ip()))`` listens
on both with one port, so a profile env naming ``http://127.0.0.1:PORT/v1`` works natively and, after
the Docker sandbox's loopback rewrite, as ``http://host.docker.internal:PORT/v1`` in a container.
"""

from __future__ import annotations

import collections.abc
import contextlib
import fcntl
import ipaddress
import itertools
import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ChatAPI", "Recorded", "Reply", "docker_bridge_ip", "last_user_text"]

INVALID_KEY_ERROR = {
    "error": {
        "message": "Incorrect API key provided",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}


@dataclass
class Reply:
    """One scripted answer. ``fault`` is None, "status", "silent" or "close"."""

    text: str = ""
    fault: str | None = None
    status: int = 200
    error: dict[str, Any] | None = None
    delay: float = 0.0  # seconds to wait before answering (and between stream chunks / 10)
    prompt_tokens: int | None = None  # None: estimated (characters / 4)
    completion_tokens: int | None = None
    finish_reason: str = "stop"

    @classmethod
    def unauthorized(cls) -> Reply:
        return cls(fault="status", status=401, error=INVALID_KEY_ERROR)

    @classmethod
    def error_status(cls, status: int, message: str, type_: str = "server_error") -> Reply:
        return cls(
            fault="status",
            status=status,
            error={"error": {"message": message, "type": type_, "param": None, "code": None}},
        )

    @classmethod
    def silent(cls) -> Reply:
        return cls(fault="silent")

    @classmethod
    def close(cls) -> Reply:
        return cls(fault="close")


ReplyLike = str | Reply
Script = (
    str
    | Reply
    | Mapping[str | None, ReplyLike]
    | Iterable[ReplyLike]
    | Callable[..., ReplyLike]
    | None
)


@dataclass
class Recorded:
    """One request as received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None
    raw: bytes = b""
    time: float = field(default_factory=time.time)
    reply: Reply | None = None  # what was chosen (chat requests only)

    @property
    def last_user_text(self) -> str:
        return last_user_text(self.body)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def last_user_text(body: Any) -> str:
    """The text of the last ``role: user`` message of a chat request body ("" if none)."""
    if not isinstance(body, dict):
        return ""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _all_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    return "".join(
        _content_text(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict)
    )


def docker_bridge_ip(interface: str = "docker0") -> str | None:
    """The IPv4 address of ``interface`` (the docker bridge gateway), or None (Linux only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(
                sock.fileno(),
                0x8915,
                struct.pack("256s", interface.encode()[:15]),  # SIOCGIFADDR
            )
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def check_bind_address(address: str) -> None:
    """Refuse anything but loopback or the Docker bridge gateway: a test API stays off the network."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"bind address {address!r} is not an IP address") from None
    if ip.is_loopback or address == docker_bridge_ip():
        return
    raise ValueError(
        f"the stand-in API may listen on loopback or the Docker bridge gateway "
        f"({docker_bridge_ip()}) only, not {address!r}"
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops connections when a test (or a fan-out of agents)
    # opens many at once; the kernel's SYN retry then takes seconds and a client times out.
    request_queue_size = 128
    api: ChatAPI

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return  # a client dropping a keep-alive connection is normal, not worth a traceback
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.api.log:
            super().log_message(format, *args)

    # -- plumbing -------------------------------------------------------------------------
    def _read_body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return raw, json.loads(raw) if raw else None
        except ValueError:
            return raw, None

    def _record(self, body: Any, raw: bytes) -> Recorded:
        rec = Recorded(self.command, self.path, dict(self.headers.items()), body, raw)
        self.server.api._add(rec)
        return rec

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _route(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path[3:] if path.startswith("/v1/") or path == "/v1" else path

    # -- methods --------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._record(None, b"")
        api = self.server.api
        if self._route() == "/models" and self._fault(api._gate(dict(self.headers.items()))):
            return
        if self._route() == "/models":
            created = int(time.time())
            data = [
                {"id": m, "object": "model", "created": created, "owned_by": "stand-in"}
                for m in self.server.api.models
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(
                404, {"error": {"message": "not found", "type": "invalid_request_error"}}
            )

    def do_POST(self) -> None:
        raw, body = self._read_body()
        rec = self._record(body, raw)
        if self._route() != "/chat/completions":
            self._send_json(
                404, {"error": {"message": "not found", "type": "invalid_request_error"}}
            )
            return
        api = self.server.api
        reply = api._choose(rec)
        rec.reply = reply
        if self._fault(reply):
            return
        prompt_tokens = (
            reply.prompt_tokens
            if reply.prompt_tokens is not None
            else max(1, len(_all_text(body)) // 4)
        )
        completion_tokens = (
            reply.completion_tokens
            if reply.completion_tokens is not None
            else max(1, len(reply.text) // 4)
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        model = (body or {}).get("model") or api.models[0]
        ident = f"chatcmpl-standin-{next(api._ids)}"
        created = int(time.time())
        if (body or {}).get("stream"):
            self._stream(reply, usage, model, ident, created, body)
        else:
            self._send_json(
                200,
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.text},
                            "logprobs": None,
                            "finish_reason": reply.finish_reason,
                        }
                    ],
                    "usage": usage,
                },
            )

    def _fault(self, reply: Reply | None) -> bool:
        """Answer ``reply``'s fault (or its delay running into stop()); True when answered."""
        if reply is None:
            return False
        api = self.server.api
        if reply.fault == "silent":
            api._stopping.wait()  # hold the connection open until stop()
            self.close_connection = True
            return True
        if reply.fault == "close":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if reply.delay and api._stopping.wait(reply.delay):
            self.close_connection = True
            return True
        if reply.fault == "status":
            self._send_json(reply.status, reply.error or INVALID_KEY_ERROR)
            return True
        return False

    def _stream(
        self, reply: Reply, usage: dict, model: str, ident: str, created: int, body: dict
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict, finish: str | None, **extra: Any) -> dict:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
                **extra,
            }

        events = [chunk({"role": "assistant", "content": ""}, None)]
        text = reply.text
        size = self.server.api.chunk_chars
        events += [chunk({"content": text[i : i + size]}, None) for i in range(0, len(text), size)]
        if include_usage:
            # OpenAI: a finish chunk, then a usage-only chunk with empty choices.
            events.append(chunk({}, reply.finish_reason))
            events.append({**chunk({}, None), "choices": [], "usage": usage})
        else:
            # Not asked for: put usage on the finish chunk (harmless to clients; many servers do).
            events.append(chunk({}, reply.finish_reason, usage=usage))
        try:
            for event in events:
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
                if reply.delay:
                    time.sleep(reply.delay / 10)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


class ChatAPI:
    """The stand-in server. Use as a context manager, or call start()/stop()."""

    def __init__(
        self,
        script: Script = None,
        *,
        default: ReplyLike = "OK",
        host: str = "127.0.0.1",
        hosts: Iterable[str] = (),
        port: int = 0,
        models: Iterable[str] = ("gpt-4o", "gpt-4o-mini", "stand-in"),
        fault: Reply | str | None = None,
        api_key: str | None = None,
        chunk_chars: int = 16,
        log: bool = False,
    ) -> None:
        self.hosts = list(hosts) or [host]
        for address in self.hosts:
            check_bind_address(address)
        self.host = self.hosts[0]
        self.port = port
        self.models = list(models)
        self.default = default
        self.fault = Reply(fault=fault) if isinstance(fault, str) else fault
        self.api_key = api_key
        self.chunk_chars = max(1, chunk_chars)
        self.log = log
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self.set_script(script)

    # -- script ---------------------------------------------------------------------------
    def set_script(self, script: Script) -> None:
        """Replace the script (see the module docstring for the accepted shapes)."""
        with self._lock:
            self._queue: collections.deque[ReplyLike] | None = None
            self._script = script
            if not isinstance(script, (str, Reply, Mapping, type(None))) and not callable(script):
                self._queue = collections.deque(script)  # type: ignore[arg-type]

    def _gate(self, headers: Mapping[str, str]) -> Reply | None:
        """The fault every request gets (``fault=``, or 401 for a key other than ``api_key``)."""
        if self.fault is not None:
            return self.fault
        sent = headers.get("Authorization", headers.get("authorization"))
        if self.api_key is not None and sent != f"Bearer {self.api_key}":
            return Reply.unauthorized()
        return None

    def _choose(self, rec: Recorded) -> Reply:
        gated = self._gate(rec.headers)
        if gated is not None:
            return gated
        with self._lock:
            script = self._script
            if self._queue is not None:
                chosen: Any = self._queue.popleft() if self._queue else self.default
            elif script is None:
                chosen = self.default
            elif isinstance(script, (str, Reply)):
                chosen = script
            elif isinstance(script, Mapping):
                text = rec.last_user_text
                chosen = next(
                    (v for k, v in script.items() if k is not None and k in text),
                    script.get(None, self.default),
                )
            else:
                chosen = None  # callable: call it outside the lock
        if callable(script) and self._queue is None and not isinstance(script, Mapping):
            chosen = script(rec)
        return chosen if isinstance(chosen, Reply) else Reply(text=str(chosen))

    # -- recording ------------------------------------------------------------------------
    def _add(self, rec: Recorded) -> None:
        with self._lock:
            self._requests.append(rec)

    @property
    def requests(self) -> list[Recorded]:
        """A snapshot of every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and "chat/completions" in r.path]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL ending in /v1, on the first host."""
        return self.url_for(self.host)

    def url_for(self, host: str) -> str:
        """The base URL as seen by a client that reaches us as ``host``."""
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v1"

    def start(self) -> ChatAPI:
        """Listen on every host with one port (the first host picks it when ``port`` is 0)."""
        if self._servers:
            return self
        self._stopping.clear()
        for _attempt in range(20):
            try:
                self._bind_all()
            except OSError:
                self._close_servers()
                if self.port and self._fixed_port:
                    raise
                self.port = 0
                continue
            break
        else:
            raise OSError(f"no free port shared by {self.hosts}")
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name=f"chat-api-{self.port}",
            )
            thread.start()
            self._threads.append(thread)
        return self

    @property
    def _fixed_port(self) -> bool:
        return getattr(self, "_asked_port", 0) != 0

    def _bind_all(self) -> None:
        if not hasattr(self, "_asked_port"):
            self._asked_port = self.port
        for address in self.hosts:
            server_cls = _Server
            if ":" in address:
                server_cls = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
            server = server_cls((address, self.port), _Handler)
            server.api = self
            self.port = server.server_address[1]
            self._servers.append(server)

    def _close_servers(self) -> None:
        for server in self._servers:
            server.server_close()
        self._servers = []

    def stop(self) -> None:
        """Stop listening; held (silent) connections are released."""
        if not self._servers:
            return
        self._stopping.set()  # releases silent handlers
        for server in self._servers:
            server.shutdown()
        self._close_servers()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> ChatAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

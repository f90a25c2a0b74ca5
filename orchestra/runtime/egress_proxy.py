"""The egress proxy: the only way out of a Docker step's network, allowing named hosts only.

Standard library only: :mod:`orchestra.runtime.egress` runs this file's source with ``python3 -c``
in a sidecar container beside each step (attached to the step's internal network and to the
engine's bridge), so no image has to be built for it. It speaks HTTP CONNECT (HTTPS and any TCP)
and plain HTTP in absolute form, and decides each request by :class:`Policy`:

- the host must match a rule (an exact name or IP, or ``*.suffix``) and the port the rule's
  port (a rule without a port allows 80 and 443);
- every address the name resolves to must be public, unless the rule allows private ones
  (loopback, private ranges, link-local such as the cloud metadata address 169.254.169.254,
  shared and reserved ranges are refused by rule); the connection goes to the checked address,
  so a name cannot resolve twice (DNS rebinding);
- anything else gets ``403`` with the reason, at once.

Each decision is one JSON line on stdout (the runtime keeps the tail for the step's log).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: Bytes a request head may have; seconds to send it and to connect upstream.
MAX_HEAD = 65_536
HEAD_TIMEOUT = 15.0
CONNECT_TIMEOUT = 10.0
DEFAULT_PORTS = (80, 443)
READY = "orchestra-egress ready"

Resolver = Callable[[str, int], list[str]]
"""(host, port) → the addresses to connect to (raises OSError when the name does not resolve)."""


class Refused(Exception):
    """A request the policy does not allow; the message is the reason sent back."""


@dataclass(frozen=True)
class Rule:
    """One allowed destination: ``host`` (name, IP or ``*.suffix``), ``port`` (None: 80 and
    443), and whether it may resolve to a private, loopback or link-local address."""

    host: str
    port: int | None = None
    private: bool = False

    def matches_host(self, host: str) -> bool:
        """Exact (case-insensitive) or, for ``*.suffix``, any name under the suffix."""
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and host != self.host[2:]
        return host == self.host

    def ports(self) -> tuple[int, ...]:
        """The ports this rule opens."""
        return DEFAULT_PORTS if self.port is None else (self.port,)


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to here (IP literals resolve to themselves)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _normal(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


class Policy:
    """Which (host, port) a step may reach, and through which addresses."""

    def __init__(self, rules: Sequence[Rule], resolve: Resolver = system_resolver) -> None:
        self.rules = [Rule(_normal(r.host), r.port, r.private) for r in rules]
        self.resolve = resolve

    def check(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host:port``; raises Refused with the reason."""
        host = _normal(host)
        named = [r for r in self.rules if r.matches_host(host)]
        if not named:
            allowed = ", ".join(sorted({r.host for r in self.rules})) or "nothing"
            msg = f"{host}:{port} is not on this worker's egress allowlist (allowed: {allowed})"
            raise Refused(msg)
        rules = [r for r in named if port in r.ports()]
        if not rules:
            ports = sorted({p for r in named for p in r.ports()})
            msg = f"port {port} of {host} is not allowed (allowed ports: {ports})"
            raise Refused(msg)
        try:
            addresses = self.resolve(host, port)
        except OSError as exc:
            msg = f"{host} does not resolve ({exc})"
            raise Refused(msg) from exc
        if not any(r.private for r in rules):
            for address in addresses:
                if not ipaddress.ip_address(address.split("%")[0]).is_global:
                    msg = (
                        f"{host} resolves to {address}, a private, loopback or link-local "
                        "address: refused by rule (name the host in runtime.egress_allow to "
                        "allow it)"
                    )
                    raise Refused(msg)
        if not addresses:
            msg = f"{host} resolves to no address"
            raise Refused(msg)
        return addresses


def _log(event: str, **fields: Any) -> None:
    # The sidecar's stdout is its log (the container's), one JSON object per decision.
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def _read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_HEAD:
            raise Refused("request head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _target(head: bytes) -> tuple[str, str, int, bytes]:
    """(method, host, port, the head to send upstream, empty for CONNECT)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise Refused(f"malformed request line {lines[0][:80]!r}")
    method, target, version = parts
    if method.upper() == "CONNECT":
        name, _, digits = target.rpartition(":")
        if not name or not digits.isdigit():
            raise Refused(f"CONNECT target {target[:80]!r} is not host:port")
        return method, name, int(digits), b""
    if not target.lower().startswith("http://"):
        raise Refused(f"only CONNECT and absolute http:// requests go through ({target[:80]!r})")
    authority, slash, path = target[7:].partition("/")
    host, port = authority, 80
    if authority.rpartition(":")[2].isdigit() and not authority.endswith("]"):
        host, port = authority.rpartition(":")[0], int(authority.rpartition(":")[2])
    kept = [h for h in lines[1:] if not h.lower().startswith(("proxy-", "connection:"))]
    upstream = "\r\n".join([f"{method} {slash}{path} {version}", *kept, "Connection: close"])
    return method, host, port, upstream.encode("latin-1") + b"\r\n\r\n"


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := src.recv(65_536):
            dst.sendall(chunk)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def _connect(addresses: list[str], port: int) -> socket.socket:
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            error = exc
    raise Refused(f"no address of the host answered on port {port} ({error})")


def handle(conn: socket.socket, policy: Policy) -> None:
    """Serve one client connection: decide, then tunnel or forward."""
    conn.settimeout(HEAD_TIMEOUT)
    host, port = "?", 0
    try:
        head, rest = _read_head(conn)
        method, host, port, upstream_head = _target(head)
        upstream = _connect(policy.check(host, port), port)
    except Refused as exc:
        _log("refuse", host=host, port=port, reason=str(exc))
        body = f"orchestra egress: {exc}\n".encode()
        with contextlib.suppress(OSError):
            conn.sendall(
                b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        return
    except OSError as exc:
        _log("error", host=host, port=port, reason=str(exc))
        return
    _log("allow", host=host, port=port, method=method)
    conn.settimeout(None)
    upstream.settimeout(None)
    with upstream:
        if upstream_head:
            upstream.sendall(upstream_head + rest)
        else:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
        back = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
        back.start()
        _pipe(conn, upstream)
        back.join()


class EgressServer(socketserver.ThreadingTCPServer):
    """A threading TCP server that hands each connection to :func:`handle`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], policy: Policy) -> None:
        self.policy = policy
        super().__init__(address, _Handler)


class _Handler(socketserver.BaseRequestHandler):
    server: EgressServer

    def handle(self) -> None:
        handle(self.request, self.server.policy)


def rules_from_json(text: str) -> list[Rule]:
    """The rules the runtime passes on the command line (a JSON list of objects)."""
    return [Rule(str(r["host"]), r.get("port"), bool(r.get("private"))) for r in json.loads(text)]


def main(argv: Sequence[str]) -> None:
    """``python3 -c <this file> RULES_JSON PORT``: serve until killed."""
    rules, port = rules_from_json(argv[0]), int(argv[1])
    server = EgressServer(("0.0.0.0", port), Policy(rules))  # noqa: S104 - the step's network only
    sys.stdout.write(READY + "\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])

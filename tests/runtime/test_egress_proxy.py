"""The egress proxy's rules, on a real server on loopback, with names we resolve ourselves."""

from __future__ import annotations

import http.server
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from orchestra.config.runtimes import DockerConfig
from orchestra.runtime.egress import parse_rule, proxy_env, step_rules
from orchestra.runtime.egress_proxy import EgressServer, Policy, Refused, Rule

#: Names resolved by our own table, never by DNS: nothing leaves this machine.
NAMES = {
    "api.example.test": ["93.184.216.34"],
    "metadata.example.test": ["169.254.169.254"],
    "llm.lan.test": ["192.168.1.5"],
    "rebind.example.test": ["93.184.216.34", "10.0.0.7"],
    "local.test": ["127.0.0.1"],
}


def resolve(host: str, port: int) -> list[str]:
    del port
    if host not in NAMES:
        raise OSError(f"{host} is not in the test's table")
    return NAMES[host]


class TestPolicy:
    def test_allowed_name_and_port_give_the_checked_addresses(self) -> None:
        """An allowed public name on its port: the addresses to connect to come back."""
        policy = Policy([Rule("api.example.test", 443)], resolve)
        assert policy.check("API.example.test.", 443) == ["93.184.216.34"]

    def test_a_rule_without_a_port_opens_80_and_443_only(self) -> None:
        """A bare host allows the web ports, not any other."""
        policy = Policy([Rule("api.example.test")], resolve)
        assert policy.check("api.example.test", 80)
        with pytest.raises(Refused, match=r"port 22 of api\.example\.test is not allowed"):
            policy.check("api.example.test", 22)

    def test_a_host_off_the_list_is_refused_naming_the_list(self) -> None:
        """The reason names what is allowed."""
        with pytest.raises(Refused, match=r"not on this worker's egress allowlist.*api\.example"):
            Policy([Rule("api.example.test", 443)], resolve).check("other.test", 443)

    def test_link_local_and_private_ranges_are_refused_by_rule(self) -> None:
        """A wildcard-matched name resolving to the metadata address, or a name with one
        private address among public ones (DNS rebinding), is refused."""
        policy = Policy([Rule("*.example.test", 443)], resolve)
        with pytest.raises(Refused, match=r"169\.254\.169\.254.*refused by rule"):
            policy.check("metadata.example.test", 443)
        with pytest.raises(Refused, match=r"10\.0\.0\.7"):
            policy.check("rebind.example.test", 443)

    def test_a_host_named_outright_may_be_private(self) -> None:
        """A model server on the LAN, named by the profile, is reachable."""
        policy = Policy([parse_rule("llm.lan.test:8000", private=True)], resolve)
        assert policy.check("llm.lan.test", 8000) == ["192.168.1.5"]

    def test_a_wildcard_never_opens_private_addresses(self) -> None:
        """Even from the profile's own list, `*.domain` stays public-only."""
        rule = parse_rule("*.lan.test:8000", private=True)
        assert rule.private is False
        with pytest.raises(Refused, match="refused by rule"):
            Policy([rule], resolve).check("llm.lan.test", 8000)

    def test_parse_rule_forms_and_errors(self) -> None:
        """host, host:port, [v6]:port; a URL is not a rule."""
        assert parse_rule("Example.test", private=True) == Rule("example.test", None, True)
        assert parse_rule("[::1]:8080", private=False) == Rule("::1", 8080, False)
        from orchestra.errors import ConfigError

        with pytest.raises(ConfigError, match="https://x"):
            parse_rule("https://x/y", private=True)

    def test_step_rules_join_the_engine_and_the_profile(self) -> None:
        """The model API (from the engine) and egress_allow both become rules."""
        cfg = DockerConfig(image="i", egress_allow=["pypi.org"])
        rules = step_rules(cfg, ("host.docker.internal:8080",))
        assert rules == [Rule("host.docker.internal", 8080, True), Rule("pypi.org", None, True)]

    def test_every_proxy_variable_points_at_the_sidecar(self) -> None:
        """Upper and lower case, and no NO_PROXY that would let a client go around it."""
        env = proxy_env()
        assert env["HTTPS_PROXY"] == env["http_proxy"] == "http://orchestra-egress:3128"
        assert env["NO_PROXY"] == env["no_proxy"] == ""


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture
def origin() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(origin: int) -> Iterator[str]:
    rules = [Rule("local.test", origin, private=True), Rule("*.example.test")]
    server = EgressServer(("127.0.0.1", 0), Policy(rules, resolve))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _connect(proxy: str, target: str) -> str:
    host, port = proxy.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        return sock.recv(4096).decode("latin-1")


class TestServer:
    def test_plain_http_through_the_proxy(self, proxy: str, origin: int) -> None:
        """An absolute-form GET to an allowed host:port reaches the origin and comes back."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
        with opener.open(f"http://local.test:{origin}/v1/models", timeout=5) as response:
            assert response.read() == b"hello /v1/models"

    def test_connect_tunnels_to_an_allowed_port(self, proxy: str, origin: int) -> None:
        """CONNECT answers 200 and the tunnel carries the bytes both ways."""
        host, port = proxy.split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(f"CONNECT local.test:{origin} HTTP/1.1\r\n\r\n".encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            sock.sendall(b"GET /tunnel HTTP/1.0\r\n\r\n")
            got = b""
            while chunk := sock.recv(4096):
                got += chunk
            assert got.endswith(b"hello /tunnel")

    def test_refusals_are_403_with_the_reason(self, proxy: str, origin: int) -> None:
        """Another port, a host off the list, the metadata address: 403 and why."""
        assert "is not allowed" in _connect(proxy, f"local.test:{origin + 1}")
        assert "not on this worker's egress allowlist" in _connect(proxy, "other.test:443")
        answer = _connect(proxy, "metadata.example.test:443")
        assert answer.startswith("HTTP/1.1 403") and "169.254.169.254" in answer
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
        with pytest.raises(urllib.error.HTTPError) as caught:
            opener.open("http://metadata.example.test/latest/meta-data/", timeout=5)
        assert caught.value.code == 403

"""Egress by allowlist for Docker steps (``network: egress``, the default).

Each step gets its own internal Docker network, created without an address on the host
(``inhibit_ipv4``), so nothing on it can reach the host, the LAN or the internet: no route, no
gateway. The one other member is a sidecar running :mod:`orchestra.runtime.egress_proxy`,
also attached to the engine's bridge; the step's ``HTTP(S)_PROXY`` point at it. The sidecar lets
through only the hosts the step's rules name (its model API's, the profile's
``egress_allow``). Network and sidecar carry the step's labels and are removed with the step
(or, for the runtimes a flow run keeps, when its steps are done: :class:`EgressNetworks`); they
are swept with the step's containers when the process that ran them dies.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from docker.errors import APIError, ImageNotFound, NotFound

from orchestra.config.runtimes import DockerConfig
from orchestra.errors import ConfigError, RuntimeUnavailableError
from orchestra.runtime import egress_proxy
from orchestra.runtime.egress_proxy import READY, Rule
from orchestra.runtime.sandbox import HOST_GATEWAY_NAME

PROXY_ALIAS = "orchestra-egress"
PROXY_PORT = 3128
PROXY_URL = f"http://{PROXY_ALIAS}:{PROXY_PORT}"
#: Tells a step's sidecar from the step's own container (both carry the step's labels).
SIDECAR_LABEL = "orchestra.sidecar"
#: Seconds the sidecar may take to say it listens.
READY_TIMEOUT = 15.0
#: The sidecar runs as nobody, with the smallest sandbox that lets Python serve.
_SIDECAR_LIMITS: dict[str, Any] = {
    "user": "65534:65534",
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "read_only": True,
    "pids_limit": 64,
    "mem_limit": "128m",
    "init": True,
}
_PROXY_SOURCE = Path(egress_proxy.__file__).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Egress:
    """What a step on an egress network gets: its network and its proxy's variables."""

    network: str
    env: Mapping[str, str]


def parse_rule(text: str, *, private: bool) -> Rule:
    """``host``, ``host:port``, ``[v6]:port`` or ``*.suffix[:port]`` → a Rule."""
    host, port = text.strip(), None
    head, sep, tail = host.rpartition(":")
    if sep and tail.isdigit() and (not head.startswith("[") or head.endswith("]")):
        host, port = head, int(tail)
    host = host.strip("[]")
    if not host or "/" in host or " " in host:
        msg = f"egress rule {text!r} is not host, host:port or *.domain[:port]"
        raise ConfigError(msg)
    # A wildcard never opens private addresses: only a host named outright may be one.
    return Rule(host.lower(), port, private and not host.startswith("*."))


def step_rules(cfg: DockerConfig, allow: Sequence[str]) -> list[Rule]:
    """The step's rules: the engine's (its model APIs, named by the profile's env, so they may
    be private) plus the profile's ``egress_allow`` (named outright)."""
    return [parse_rule(t, private=True) for t in (*allow, *cfg.egress_allow)]


def proxy_env() -> dict[str, str]:
    """Variables that send every HTTP client of the step through the sidecar."""
    env = dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"), PROXY_URL)
    env |= {name.lower(): PROXY_URL for name in list(env)}
    env |= {"NO_PROXY": "", "no_proxy": ""}
    return env


@dataclass
class _Held:
    network: Any
    sidecar: Any
    egress: Egress


class EgressNetworks:
    """The egress networks (with their sidecars) of one runtime, by rule set.

    ``keep=False``: each step gets its own, removed when the step ends (:meth:`step`). With
    ``keep=True`` the steps of the runtime that need the same rules share one, until
    :meth:`close`: a task's four steps pay for one network and sidecar, not four.
    """

    def __init__(self, cfg: DockerConfig, *, keep: bool = False) -> None:
        self.cfg = cfg
        self.keep = keep
        self._held: dict[tuple[Rule, ...], _Held] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def step(
        self, client: Any, rules: Sequence[Rule], *, name: str, labels: Mapping[str, str]
    ) -> Iterator[Egress]:
        """The network and proxy variables of one step."""
        if not self.keep:
            own = _open(client, self.cfg, rules, name=name, labels=labels)
            try:
                yield own.egress
            finally:
                _remove(own)
            return
        key = tuple(rules)
        with self._lock:
            held = self._held.get(key)
            if held is not None and not _running(held.sidecar):
                _remove(held)
                held = None
            if held is None:
                held = self._held[key] = _open(client, self.cfg, rules, name=name, labels=labels)
        yield held.egress

    def close(self) -> None:
        """Remove every kept network and sidecar."""
        with self._lock:
            for held in self._held.values():
                _remove(held)
            self._held.clear()


def _open(
    client: Any, cfg: DockerConfig, rules: Sequence[Rule], *, name: str, labels: Mapping[str, str]
) -> _Held:
    network = _create_network(client, name, labels)
    sidecar: Any = None
    try:
        sidecar = _start_sidecar(client, cfg, rules, name=name, labels=labels)
        network.connect(sidecar, aliases=[PROXY_ALIAS])
        _wait_ready(sidecar, cfg.egress_image)
    except BaseException:
        _remove(_Held(network, sidecar, Egress(network.name, {})))
        raise
    return _Held(network, sidecar, Egress(network=network.name, env=proxy_env()))


def _running(sidecar: Any) -> bool:
    try:
        sidecar.reload()
    except (NotFound, APIError):
        return False
    return bool(sidecar.status == "running")


def _remove(held: _Held) -> None:
    if held.sidecar is not None:
        with contextlib.suppress(NotFound, APIError):
            held.sidecar.remove(force=True)
    with contextlib.suppress(NotFound, APIError):
        held.network.remove()


def _create_network(client: Any, name: str, labels: Mapping[str, str]) -> Any:
    return client.networks.create(
        name,
        driver="bridge",
        internal=True,
        # No address on the host: a step cannot reach the host's own ports through a gateway.
        options={"com.docker.network.bridge.inhibit_ipv4": "true"},
        labels=dict(labels),
    )


def _start_sidecar(
    client: Any, cfg: DockerConfig, rules: Sequence[Rule], *, name: str, labels: Mapping[str, str]
) -> Any:
    try:
        sidecar = client.containers.create(
            cfg.egress_image,
            entrypoint=["python3", "-c", _PROXY_SOURCE],
            command=[json.dumps([asdict(r) for r in rules]), str(PROXY_PORT)],
            name=f"{name}-egress",
            labels={**labels, SIDECAR_LABEL: "egress"},
            network_mode="bridge",
            extra_hosts={HOST_GATEWAY_NAME: "host-gateway"},
            **_SIDECAR_LIMITS,
        )
    except ImageNotFound as exc:
        raise RuntimeUnavailableError(egress_image_missing(cfg)) from exc
    sidecar.start()
    return sidecar


def _wait_ready(sidecar: Any, image: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        logs = sidecar.logs().decode("utf-8", "replace")
        if READY in logs:
            return
        sidecar.reload()
        if sidecar.status == "exited":
            msg = (
                f"the egress proxy did not start in image {image!r} (it needs python3): "
                f"{logs.strip()[-300:]}; set runtime.egress_image to an image with python3"
            )
            raise RuntimeUnavailableError(msg)
        time.sleep(0.02)
    msg = f"the egress proxy in image {image!r} did not start within {READY_TIMEOUT:g} s"
    raise RuntimeUnavailableError(msg)


def egress_image_missing(cfg: DockerConfig) -> str:
    """The fix for a missing sidecar image."""
    return (
        f"the egress proxy image {cfg.egress_image!r} is not in the Docker engine: build it "
        f"with `orchestra worker-image build`, set runtime.egress_image to an image with "
        "python3, or choose another runtime.network (docs/security.md, egress)"
    )

"""The Docker runtime: runs a step in a fresh, sandboxed container, then removes it.

One step = one container: create → attach → start → read its output line by line (stdout and
stderr apart, in a thread that carries the caller's context, so Prefect run logs work) → poll
``wait`` while checking the time limit and ``should_stop`` (at most every ``poll_interval``
seconds, ≤ 0.5) → on a time limit or a stop: ``stop`` (SIGTERM, ``kill_grace`` seconds, SIGKILL),
then ``kill`` → always ``remove(force=True)``. Containers run with an init process, so SIGTERM
reaches the agent (PID 1 would ignore it) and a missing executable is reported by the init as
``exec <argv0> failed``, which ``run`` turns into :class:`AgentNotInstalledError`. The sandbox
policy (mounts, env, path and loopback rewriting, the refused Docker socket, limits) lives in
:mod:`orchestra.runtime.sandbox`.

The engine is reached through an injected ``engine_client(base_url, version)`` factory: the
flows pass prefect-docker's ``DockerHost(...).get_client()`` (:mod:`orchestra.prefect.docker_host`);
without one, the docker SDK's own client (the same thing, without Prefect on the import path).
prefect-docker's container tasks are async and are not used.

**Output.** The runtime attaches to the created container *before* starting it and
demultiplexes the attach stream. ``logs(follow=True)`` was tried first: on container exit it
sometimes loses the last lines (a trailing line without newline most often); attach does not.

**Stdin.** The prompt file (``StepRequest.stdin_path``) goes through the same attach socket,
not through a shell: the container is created with ``stdin_open`` (the SDK then sets
``StdinOnce``), a thread writes the file's bytes and half-closes the socket, which the engine
turns into end-of-file on the agent's stdin while the output keeps flowing. This works in any
image — also ones without ``/bin/sh`` (wrapping argv in ``sh -c 'exec "$@" < file'`` would
not) — and never puts the prompt on a command line. A step that never reads its stdin is not
blocked: the writer gives up when the container goes away. Without ``stdin_path`` stdin is
empty.

**Preflight** checks the engine, the image and the profile's own mounts. Whether ``argv0``
exists in the image cannot be checked without starting a container; ``run`` reports it.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import requests
import urllib3
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from loguru import logger

from orchestra.config.runtimes import DockerConfig
from orchestra.errors import AgentNotInstalledError, RuntimeUnavailableError
from orchestra.runtime import docker_io, docker_sweep, docker_volumes, egress, ownership, sandbox
from orchestra.runtime.base import (
    LineSink,
    OwnerAlive,
    RuntimeContext,
    StepRequest,
    StepResult,
    StopCheck,
)
from orchestra.runtime.docker_view import DockerView
from orchestra.runtime.output import OutputCollector, guarded_sink

ClientFactory = Callable[[], Any]
"""Returns a connected ``docker.DockerClient`` (raises DockerException when it cannot)."""

EngineClient = Callable[[str | None, str], Any]
"""(base_url or None for DOCKER_HOST/the local socket, API version or "auto") → a client."""

#: How long to wait for the output reader once the container has exited.
_READER_JOIN_SECONDS = 5.0
_ENGINE_ERRORS = (DockerException, requests.RequestException)


class DockerRuntime:
    """Runs steps in Docker containers; see the module docstring for the guarantees.

    ``project_id`` and ``run_id`` label every container (``orchestra.project``, ``orchestra.run``)
    so :func:`sweep` can remove leftovers. ``kill_grace`` is the time between SIGTERM and SIGKILL
    when a step is stopped; ``client_factory`` replaces the default
    ``DockerHost(base_url=cfg.base_url or None).get_client()`` (which honours DOCKER_HOST).
    """

    name = "docker"

    def __init__(
        self,
        cfg: DockerConfig,
        project_id: str,
        run_id: str,
        kill_grace: float = 10.0,
        client_factory: ClientFactory | None = None,
        *,
        engine_client: EngineClient | None = None,
        poll_interval: float = 0.25,
        keep_egress: bool = False,
    ) -> None:
        self.cfg = cfg
        self.project_id = project_id
        self.run_id = run_id
        self.kill_grace = kill_grace
        self.poll_interval = min(poll_interval, 0.5)
        self._api_version: str | None = None
        self._engine_client = engine_client or sdk_client
        self._client_factory = client_factory or self._default_client
        self.view = DockerView(cfg)
        self._egress = egress.EgressNetworks(cfg, keep=keep_egress)
        self._image_volumes = docker_volumes.ImageVolumes(cfg)

    def close(self) -> None:
        """Remove what this runtime kept for its steps (egress networks and their proxies)."""
        try:
            self._egress.close()
        except _ENGINE_ERRORS as exc:  # the sweep removes what is left
            logger.warning("could not remove the egress networks of {}: {}", self.run_id, exc)

    @property
    def address(self) -> str:
        """The engine address in use: ``base_url``, else DOCKER_HOST, else the local socket."""
        return sandbox.engine_address(self.cfg)

    @property
    def leftover_scope(self) -> str:
        """Containers of dead steps live on the engine: one sweep per engine address."""
        return self.address

    def sweep_leftovers(self, alive: OwnerAlive) -> list[str]:
        """Remove this project's containers of runs with no live owner; return their ids."""
        with self._client() as client:
            return docker_sweep.sweep_orphans(client, self.project_id, alive)

    def preflight(self, argv0: str) -> None:
        """Raise RuntimeUnavailableError unless the engine answers and has the image.

        Also raises SandboxPolicyError/ConfigError for unsafe or malformed profile mounts.
        ``argv0`` is not checked (that needs a container); ``run`` reports it instead.
        """
        sandbox.check_config(self.cfg)
        with self._client() as client:
            try:
                client.ping()
                client.images.get(self.cfg.image)
            except ImageNotFound as exc:
                raise RuntimeUnavailableError(self._image_missing()) from exc
            except _ENGINE_ERRORS as exc:
                raise RuntimeUnavailableError(self._unreachable(exc)) from exc
            try:
                if self.cfg.network == sandbox.EGRESS_NETWORK:
                    client.images.get(self.cfg.egress_image)
            except ImageNotFound as exc:
                raise RuntimeUnavailableError(egress.egress_image_missing(self.cfg)) from exc
            except _ENGINE_ERRORS as exc:
                raise RuntimeUnavailableError(self._unreachable(exc)) from exc
        logger.debug(
            "docker preflight ok: image {} at {} (agent {})", self.cfg.image, self.address, argv0
        )

    def run(
        self,
        request: StepRequest,
        on_line: LineSink | None = None,
        should_stop: StopCheck | None = None,
    ) -> StepResult:
        """Run the step to completion, time limit or stop; never raises for its own failure.

        Raises SandboxPolicyError/ConfigError for an unsafe request, RuntimeUnavailableError
        when the engine fails or lacks the image, AgentNotInstalledError when the image has no
        ``argv[0]``. The container is removed in every case.
        """
        kwargs = sandbox.container_kwargs(
            request, self.cfg, project_id=self.project_id, run_id=self.run_id
        )
        kwargs["name"] = sandbox.container_name(request, uuid.uuid4().hex[:10])
        stdin_data = request.stdin_path.read_bytes() if request.stdin_path is not None else None
        request.output_dir.mkdir(parents=True, exist_ok=True)
        handover = ownership.needs_handover(kwargs["user"])
        collector = OutputCollector(guarded_sink(on_line, request.name) if on_line else None)
        emit = collector.raw_line

        with self._client() as client, self._network(client, request, kwargs):
            taken = [m["Target"] for m in kwargs["mounts"]]
            kwargs["mounts"] += self._image_volumes.mounts(client, taken)
            container = self._create(client, kwargs, request)
            if handover:  # the orchestrator is root, the step is not: let it write its folders
                for folder in (request.workspace, request.output_dir):
                    ownership.chown_tree(folder, kwargs["user"])
            started = time.monotonic()
            sock: Any = None
            reader: threading.Thread | None = None
            finished = False
            try:
                sock = docker_io.attach(container, stdin=stdin_data is not None)
                container.start()
                if stdin_data is not None:
                    docker_io.spawn(
                        f"orchestra-{request.name}-stdin", docker_io.feed_stdin, sock, stdin_data
                    )
                reader = docker_io.spawn(
                    f"orchestra-{request.name}-output", docker_io.read_output, sock, emit
                )
                exit_code, timed_out, reason = self._wait(
                    container, started + request.timeout, should_stop
                )
                finished = True
            except _ENGINE_ERRORS as exc:
                msg = f"Docker ({self.address!r}) could not run step {request.name!r}: {exc}"
                raise RuntimeUnavailableError(msg) from exc
            finally:
                duration = time.monotonic() - started
                if finished and reader is not None:  # exited: the engine ends the stream
                    reader.join(_READER_JOIN_SECONDS)
                _remove(container, request.name)
                if sock is not None:
                    docker_io.close(sock)
                if handover:  # the container is gone: results come back owned by the user
                    for folder in (request.workspace, request.output_dir):
                        ownership.chown_tree(folder, ownership.host_user())
        stderr = collector.text("stderr")
        if exit_code in (126, 127):
            self._check_exec(kwargs["entrypoint"][0], stderr.partition("\n")[0], request)
        return StepResult(
            exit_code=exit_code,
            duration=duration,
            timed_out=timed_out,
            stdout=collector.text("stdout"),
            stderr=stderr,
            output_tail=collector.tail(),
            stopped_reason=reason,
        )

    def _check_exec(self, argv0: str, first_line: str, request: StepRequest) -> None:
        """Raise AgentNotInstalledError if the init process could not exec ``argv0``."""
        if first_line.startswith("[FATAL tini") and f"exec {argv0} failed" in first_line:
            why = first_line.rpartition(": ")[2]
            msg = (
                f"step {request.name!r} cannot execute {argv0!r} in the image "
                f"{self.cfg.image!r} ({why}): install it in the image (`orchestra worker-image "
                f"build --tag {self.cfg.image} --force`, adding `--with {argv0}` for an npm CLI) "
                "or fix the command in the worker profile"
            )
            raise AgentNotInstalledError(msg)

    def _wait(
        self, container: Any, deadline: float, should_stop: StopCheck | None
    ) -> tuple[int | None, bool, str | None]:
        """Poll the container; stop it on the deadline or when asked. (exit, timed_out, reason)."""
        while True:
            remaining = deadline - time.monotonic()
            try:
                status = container.wait(timeout=max(0.01, min(self.poll_interval, remaining)))
            except requests.RequestException as exc:
                if not _is_poll_timeout(exc):
                    raise
            else:
                return int(status["StatusCode"]), False, None
            if time.monotonic() >= deadline:
                self._stop(container)
                return None, True, None
            if should_stop is not None and (reason := should_stop()):
                self._stop(container)
                return None, False, reason

    def _stop(self, container: Any) -> None:
        """``docker stop`` (SIGTERM, grace, SIGKILL), then ``kill`` in case it is still up."""
        try:
            container.stop(timeout=math.ceil(self.kill_grace))
        except _ENGINE_ERRORS as exc:
            logger.warning("docker stop of {} failed ({}); killing it", container.id[:12], exc)
        with contextlib.suppress(APIError):  # 409/404: it is not running any more
            container.kill()

    def _create(self, client: Any, kwargs: dict[str, Any], request: StepRequest) -> Any:
        try:
            container = client.containers.create(**kwargs)
        except ImageNotFound as exc:
            raise RuntimeUnavailableError(self._image_missing()) from exc
        except APIError as exc:
            why = exc.explanation or exc
            msg = f"Docker refused to create the container of step {request.name!r}: {why}"
            raise RuntimeUnavailableError(msg) from exc
        except _ENGINE_ERRORS as exc:
            raise RuntimeUnavailableError(self._unreachable(exc)) from exc
        logger.debug(
            "step {} runs in container {} ({})", request.name, container.id[:12], self.cfg.image
        )
        return container

    @contextlib.contextmanager
    def _network(self, client: Any, request: StepRequest, kwargs: dict[str, Any]) -> Iterator[None]:
        """The step's own network behind the egress proxy (``network: egress``), for as long as
        the step runs; other network modes are Docker's and need nothing here."""
        if self.cfg.network != sandbox.EGRESS_NETWORK:
            yield
            return
        rules = egress.step_rules(self.cfg, request.egress)
        try:
            with self._egress.step(
                client, rules, name=kwargs["name"], labels=kwargs["labels"]
            ) as way_out:
                kwargs["network_mode"] = way_out.network
                kwargs["environment"].update(way_out.env)
                yield
        except _ENGINE_ERRORS as exc:
            msg = (
                f"Docker ({self.address!r}) could not set up the egress of {request.name!r}: {exc}"
            )
            raise RuntimeUnavailableError(msg) from exc

    @contextlib.contextmanager
    def _client(self) -> Iterator[Any]:
        """A connected client, closed afterwards; connection failures are translated."""
        try:
            client = self._client_factory()
        except (*_ENGINE_ERRORS, OSError) as exc:
            raise RuntimeUnavailableError(self._unreachable(exc)) from exc
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.close()

    def _default_client(self) -> Any:
        # The first client negotiates the API version; later ones reuse it and skip the
        # GET /version round trip (~10 ms of every step, measured in bench/bench_docker.py).
        client = self._engine_client(self.cfg.base_url or None, self._api_version or "auto")
        self._api_version = client.api.api_version
        return client

    def _unreachable(self, exc: BaseException) -> str:
        return (
            f"the Docker engine at {self.address!r} is not reachable ({exc}): start Docker "
            "(or fix runtime.base_url / DOCKER_HOST), or set `runtime: {kind: process}` in the "
            "worker profile"
        )

    def _image_missing(self) -> str:
        image = self.cfg.image
        return (
            f"the worker image {image!r} is not in the Docker engine at {self.address!r}: "
            f"build it with `orchestra worker-image build --tag {image}`"
        )


def _remove(container: Any, step: str) -> None:
    """``remove(force=True)``; a failure is logged (``sweep`` catches what is left)."""
    try:
        container.remove(force=True)
    except NotFound:
        pass
    except _ENGINE_ERRORS as exc:
        logger.warning("could not remove container {} of step {}: {}", container.id[:12], step, exc)


def _is_poll_timeout(exc: requests.RequestException) -> bool:
    """A ``wait(timeout=...)`` that ran out (over a unix socket it comes as ConnectionError)."""
    if isinstance(exc, requests.Timeout):
        return True
    return any(isinstance(arg, urllib3.exceptions.TimeoutError) for arg in exc.args)


def sdk_client(base_url: str | None, version: str) -> Any:
    """A docker SDK client: ``base_url``, else DOCKER_HOST, else the local socket."""
    from docker.client import DockerClient

    if base_url:
        return DockerClient(base_url=base_url, version=version)
    return DockerClient.from_env(version=version)


def view(settings: DockerConfig) -> DockerView:
    """What a step's agent sees in a container of ``settings`` (no engine call)."""
    return DockerView(settings)


def build(settings: DockerConfig, context: RuntimeContext) -> DockerRuntime:
    """The runtime for ``settings`` (the registry in :mod:`orchestra.runtime` calls this)."""
    return DockerRuntime(
        settings,
        project_id=context.project_id,
        run_id=context.run_id,
        kill_grace=context.kill_grace,
        engine_client=context.engine_client,
        keep_egress=context.kept,
    )

"""A Prefect server on SQLite answering "database is locked" (HTTP 503) costs a fraction of a
second, not Prefect's 2 s first back-off (the 2-second steps of cycle walls, issue 21).

Prefect's own HTTP client classes talk to a real HTTP server on loopback that answers 503, like
Prefect's API does for a lost SQLite write race, a given number of times before it answers 200.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prefect.client.base import PrefectHttpxAsyncClient, PrefectHttpxSyncClient

from orchestra.prefect import backoff


class LockedServer(ThreadingHTTPServer):
    """Answers 503 ``Service Unavailable`` to the first ``locked`` requests, then 200."""

    def __init__(self, locked: int) -> None:
        super().__init__(("127.0.0.1", 0), LockedHandler)
        self.locked = locked
        self.seen = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class LockedHandler(BaseHTTPRequestHandler):
    server: LockedServer

    def do_GET(self) -> None:
        self.server.seen += 1
        status = 503 if self.server.seen <= self.server.locked else 200
        body = b'{"exception_message": "Service Unavailable"}' if status == 503 else b"true"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def locked_twice() -> Iterator[LockedServer]:
    server = LockedServer(locked=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def installed() -> None:
    backoff.install()


class TestPrefectClients:
    def test_sync_client_retries_twice_within_a_second(self, locked_twice: LockedServer) -> None:
        """Two 503s in a row: Prefect's sync client waited 2 + 4 s; now about 0.5 s."""
        started = time.perf_counter()
        with PrefectHttpxSyncClient(base_url=locked_twice.url) as client:
            answer = client.get("/api/health")
        assert answer.status_code == 200
        assert locked_twice.seen == 3
        assert time.perf_counter() - started < 1.5

    def test_async_client_retries_twice_within_a_second(self, locked_twice: LockedServer) -> None:
        """The async client (flow and task run creation) waits as little."""

        async def get() -> httpx.Response:
            async with PrefectHttpxAsyncClient(base_url=locked_twice.url) as client:
                return await client.get("/api/health")

        started = time.perf_counter()
        answer = asyncio.run(get())
        assert answer.status_code == 200
        assert locked_twice.seen == 3
        assert time.perf_counter() - started < 1.5


def _locked(request: httpx.Request, **headers: str) -> httpx.Response:
    return httpx.Response(503, headers=headers, request=request)


class TestRetryAfter:
    def test_first_two_retries_are_short_then_prefects_own(self) -> None:
        """The third 503 of one request gets no Retry-After: Prefect backs off 8, 16, 32 s."""
        request = httpx.Request("POST", "http://127.0.0.1:1/api/task_runs/")
        given = []
        for _ in range(3):
            response = _locked(request)
            backoff.quick_retry_after(response)
            given.append(response.headers.get("Retry-After"))
        assert given == ["0.1", "0.4", None]

    def test_each_request_counts_its_own_retries(self) -> None:
        """A new request starts with the short retries again."""
        for _ in range(3):
            response = _locked(httpx.Request("GET", "http://127.0.0.1:1/api/health"))
            backoff.quick_retry_after(response)
            assert response.headers["Retry-After"] == "0.1"

    def test_server_retry_after_and_other_statuses_untouched(self) -> None:
        """A Retry-After the server sent wins; 429 (rate limit) and 500 keep their handling."""
        request = httpx.Request("GET", "http://127.0.0.1:1/api/health")
        told = _locked(request, **{"Retry-After": "7"})
        backoff.quick_retry_after(told)
        assert told.headers["Retry-After"] == "7"
        for status in (429, 500, 200):
            response = httpx.Response(status, request=request)
            backoff.quick_retry_after(response)
            assert "Retry-After" not in response.headers

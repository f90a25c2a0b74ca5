"""The stand-in model API (tests/support/chat_api.py) answers like OpenAI's chat API."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from support.chat_api import INVALID_KEY_ERROR, ChatAPI, Reply, docker_bridge_ip


def chat(
    api: ChatAPI, text: Any = "hi", *, stream: bool = False, timeout: float = 5, **extra: Any
) -> httpx.Response:
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": text}],
        **extra,
    }
    if stream:
        body["stream"] = True
    return httpx.post(
        f"{api.url}/chat/completions",
        json=body,
        timeout=timeout,
        headers={"Authorization": "Bearer sk-test"},
    )


def content(response: httpx.Response) -> str:
    return str(response.json()["choices"][0]["message"]["content"])


def sse_events(response: httpx.Response) -> list[Any]:
    events: list[Any] = []
    for block in response.text.split("\n\n"):
        if block.strip():
            assert block.startswith("data: ")
            payload = block[len("data: ") :]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def bridge_ip() -> str:
    """The docker0 gateway address; its absence fails in CI (Docker is required there)."""
    ip = docker_bridge_ip()
    if ip is None:
        if os.environ.get("CI"):
            pytest.fail("no docker0 interface: Docker is required in CI", pytrace=False)
        pytest.skip("no docker0 interface")
    return ip


class TestReplies:
    def test_non_stream_reply_and_usage(self) -> None:
        """A plain request gets an OpenAI chat.completion with the text and usage."""
        with ChatAPI("hello there") as api:
            assert api.url.startswith("http://127.0.0.1:")
            assert api.url.endswith("/v1")
            r = chat(api)
            assert r.status_code == 200
            data = r.json()
            assert data["object"] == "chat.completion"
            assert data["choices"][0]["message"] == {"role": "assistant", "content": "hello there"}
            assert data["choices"][0]["finish_reason"] == "stop"
            usage = data["usage"]
            assert usage["prompt_tokens"] >= 1
            assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    def test_stream_chunks_usage_and_done(self) -> None:
        """A streaming request gets SSE chunks that join to the text, usage, then [DONE]."""
        text = "a fairly long reply that is split into several chunks"
        with ChatAPI(Reply(text, prompt_tokens=1234, completion_tokens=56), chunk_chars=8) as api:
            r = chat(api, stream=True)
            assert r.headers["content-type"].startswith("text/event-stream")
            events = sse_events(r)
            assert events[-1] == "[DONE]"
            chunks = events[:-1]
            assert all(c["object"] == "chat.completion.chunk" for c in chunks)
            assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == text
            assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
            assert chunks[-1]["usage"] == {
                "prompt_tokens": 1234,
                "completion_tokens": 56,
                "total_tokens": 1290,
            }

    def test_stream_include_usage_is_openai_shaped(self) -> None:
        """With include_usage the usage comes in its own chunk with empty choices."""
        with ChatAPI("x") as api:
            *chunks, done = sse_events(
                chat(api, stream=True, stream_options={"include_usage": True})
            )
            assert done == "[DONE]"
            assert chunks[-1]["choices"] == []
            assert chunks[-1]["usage"]["completion_tokens"] >= 1
            assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
            assert "usage" not in chunks[-2]

    def test_models(self) -> None:
        """GET /v1/models lists the configured models."""
        with ChatAPI(models=["gpt-4o", "stand-in"]) as api:
            r = httpx.get(f"{api.url}/models")
            assert [m["id"] for m in r.json()["data"]] == ["gpt-4o", "stand-in"]

    def test_reply_by_role_marker_with_default(self) -> None:
        """A dict script answers by the marker found in the last user message."""
        script = {"ROLE: reviewer": "Verdict: APPROVE", "ROLE: coder": "edited", None: "fallback"}
        with ChatAPI(script) as api:
            assert content(chat(api, "ROLE: reviewer\nreview it")) == "Verdict: APPROVE"
            assert content(chat(api, "ROLE: coder\nfix")) == "edited"
            assert content(chat(api, "something else")) == "fallback"
            assert content(chat(api, [{"type": "text", "text": "ROLE: coder go"}])) == "edited"

    def test_queue_then_default_and_callable(self) -> None:
        """A list is a queue followed by the default; a callable sees the request."""
        with ChatAPI(["one", Reply("two")], default="rest") as api:
            assert [content(chat(api)) for _ in range(3)] == ["one", "two", "rest"]
        with ChatAPI(lambda rec: f"echo {rec.last_user_text}") as api:
            assert content(chat(api, "ping")) == "echo ping"


class TestFaults:
    def test_401_openai_error_json(self) -> None:
        """The 401 fault answers OpenAI's invalid_api_key error, streaming or not."""
        with ChatAPI(fault=Reply.unauthorized()) as api:
            for stream in (False, True):
                r = chat(api, stream=stream)
                assert r.status_code == 401
                assert r.json() == INVALID_KEY_ERROR

    def test_api_key_check(self) -> None:
        """With api_key set, another bearer token gets a 401."""
        with ChatAPI("ok", api_key="sk-test") as api:
            assert chat(api).status_code == 200
            r = httpx.post(
                f"{api.url}/chat/completions",
                json={"messages": []},
                headers={"Authorization": "Bearer sk-wrong"},
            )
            assert r.status_code == 401

    def test_silent_until_client_timeout_and_stop_releases(self) -> None:
        """A silent reply never answers; stop() does not hang on the held connection."""
        api = ChatAPI(fault=Reply.silent()).start()
        try:
            start = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                chat(api, timeout=0.5)
            assert 0.4 < time.monotonic() - start < 3
            assert len(api.chat_requests) == 1
        finally:
            start = time.monotonic()
            api.stop()
            assert time.monotonic() - start < 3

    def test_silent_connection_released_on_stop(self) -> None:
        """A client waiting on a silent reply sees the connection end when the server stops."""
        api = ChatAPI(fault="silent").start()
        errors: list[BaseException] = []

        def call() -> None:
            try:
                chat(api, timeout=30)
            except Exception as exc:
                errors.append(exc)

        t = threading.Thread(target=call)
        t.start()
        while not api.chat_requests:
            time.sleep(0.01)
        api.stop()
        t.join(5)
        assert not t.is_alive()
        assert errors
        assert isinstance(errors[0], httpx.RemoteProtocolError)

    def test_closed_connection(self) -> None:
        """The close fault drops the connection without a response."""
        with ChatAPI(fault=Reply.close()) as api:
            with pytest.raises(httpx.RemoteProtocolError):
                chat(api)
            with pytest.raises(httpx.RemoteProtocolError):
                chat(api, stream=True)
            assert len(api.chat_requests) == 2

    def test_error_status(self) -> None:
        """Any status with OpenAI's error JSON."""
        with ChatAPI(fault=Reply.error_status(500, "boom")) as api:
            r = chat(api)
            assert r.status_code == 500
            assert r.json()["error"]["message"] == "boom"


class TestRecordingAndBinding:
    def test_recording_is_complete_and_thread_safe(self) -> None:
        """Every request is recorded, concurrent ones included, with headers and body."""
        failures: list[BaseException] = []

        def send(text: str) -> None:
            try:
                chat(api, text, timeout=30)
            except Exception as exc:  # reported below: a thread's exception would be lost
                failures.append(exc)

        with ChatAPI("ok") as api:
            threads = [threading.Thread(target=send, args=(f"msg {i}",)) for i in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert failures == []
            httpx.get(f"{api.url}/models")
            assert len(api.requests) == 21
            chats = api.chat_requests
            assert sorted(r.last_user_text for r in chats) == sorted(f"msg {i}" for i in range(20))
            first = chats[0]
            assert (first.method, first.path) == ("POST", "/v1/chat/completions")
            assert first.headers["Authorization"] == "Bearer sk-test"
            assert first.reply is not None
            assert first.reply.text == "ok"
            api.clear()
            assert api.requests == []

    def test_free_port_each(self) -> None:
        """Two servers get two free ports and answer independently."""
        with ChatAPI("a") as one, ChatAPI("b") as two:
            assert one.port != two.port
            assert content(chat(one)) == "a"
            assert content(chat(two)) == "b"

    def test_port_refuses_after_stop(self) -> None:
        """After stop() nothing listens on the port."""
        api = ChatAPI("a").start()
        port = api.port
        api.stop()
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0

    @pytest.mark.parametrize("address", ["0.0.0.0", "::", "8.8.8.8", "example.com"])
    def test_refuses_to_listen_beyond_loopback_and_bridge(self, address: str) -> None:
        """A wildcard or outside address is refused: the stand-in never faces the network."""
        with pytest.raises(ValueError, match=r"loopback or the Docker bridge gateway|not an IP"):
            ChatAPI("x", host=address)

    def test_loopback_and_bridge_share_one_port(self) -> None:
        """hosts=(loopback, bridge) listens on both with the same port."""
        ip = bridge_ip()
        with ChatAPI("both", hosts=("127.0.0.1", ip)) as api:
            assert api.url == f"http://127.0.0.1:{api.port}/v1"
            assert api.url_for("host.docker.internal") == (
                f"http://host.docker.internal:{api.port}/v1"
            )
            r = httpx.post(
                f"http://{ip}:{api.port}/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "x"}]},
                timeout=5,
            )
            assert content(r) == "both"
            assert content(chat(api)) == "both"

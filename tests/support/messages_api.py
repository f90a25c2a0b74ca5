"""A stand-in Anthropic Messages API, streamed as the real one is (for the real Claude Code).

    with MessagesAPI(script) as api:          # ANTHROPIC_BASE_URL=api.url (no /v1)
        ...
        api.exchanges[-1].body["model"]

``POST /v1/messages`` answers with server-sent events (``message_start``, ``content_block_start``
/ ``content_block_delta`` / ``content_block_stop`` per text or ``tool_use`` block,
``message_delta`` with the stop reason and usage, ``message_stop``), or with one JSON message when
the request does not ask for a stream. ``POST /v1/messages/count_tokens`` answers a count; a
``GET`` answers an empty model list. Errors carry Anthropic's error JSON
(``authentication_error``, ``rate_limit_error``, ``overloaded_error``, ``api_error``).
"""

from __future__ import annotations

import json
from typing import Any

from support.model_api import Exchange, Fault, Handler, ModelAPI, Turn, texts

_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_body(fault: Fault) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(fault.status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": fault.message}}


def model_turns(body: Any) -> int:
    messages = body.get("messages") if isinstance(body, dict) else None
    return sum(1 for m in messages or [] if isinstance(m, dict) and m.get("role") == "assistant")


class MessagesAPI(ModelAPI):
    """The Messages API stand-in; its key is ``x-api-key`` or ``Authorization: Bearer``."""

    @property
    def url(self) -> str:
        """``ANTHROPIC_BASE_URL``: the root, without ``/v1``."""
        return self.url_for(self.hosts[0])

    @property
    def message_exchanges(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.method == "POST" and e.path == "/v1/messages"]

    def handle(self, handler: Handler, body: Any) -> None:
        path = handler.path.split("?", 1)[0].rstrip("/")
        exchange = self.record(
            Exchange(
                handler.command,
                path,
                dict(handler.headers.items()),
                body,
                "\n".join(texts(body)),
                model_turns(body),
            )
        )
        key = exchange.header("x-api-key") or exchange.header("authorization").removeprefix(
            "Bearer "
        )
        if handler.command == "GET":  # /v1/models, as a preflight probes it
            fault = self.gate(key)
            if fault is not None and self.early_fault(handler, fault, error_body(fault)):
                return
            handler.send_json(200, {"data": [], "has_more": False})
            return
        if path.endswith("/count_tokens"):
            handler.send_json(200, {"input_tokens": max(1, len(exchange.text) // 4)})
            return
        if path != "/v1/messages":
            handler.send_json(404, error_body(Fault(status=404, message=f"no route {path}")))
            return
        turn = self.choose(exchange, key)
        if turn.fault is not None and self.early_fault(handler, turn.fault, error_body(turn.fault)):
            return
        model = str((body or {}).get("model") or "claude-stand-in")
        blocks = self._blocks(turn)
        stop = "tool_use" if turn.tools else "end_turn"
        if not (body or {}).get("stream"):
            if turn.fault is not None:  # cut: half a JSON body, then the connection drops
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", "4096")
                handler.end_headers()
                handler.wfile.write(b'{"id": "msg_cut", "type": "message", "content": [')
                handler.drop()
                return
            handler.send_json(200, self._message(model, blocks, stop, turn))
            return
        self._stream(handler, model, blocks, stop, turn)

    def _blocks(self, turn: Turn) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if turn.text:
            blocks.append({"type": "text", "text": turn.text})
        for call in turn.tools:
            tool_id = self.next_id("toolu_standin")
            blocks.append(
                {"type": "tool_use", "id": tool_id, "name": call.name, "input": call.arguments}
            )
        return blocks

    def _message(
        self, model: str, blocks: list[dict[str, Any]], stop: str | None, turn: Turn
    ) -> dict[str, Any]:
        return {
            "id": self.next_id("msg_standin"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": turn.input_tokens,
                "output_tokens": turn.output_tokens if stop else 1,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }

    def _stream(
        self, handler: Handler, model: str, blocks: list[dict[str, Any]], stop: str, turn: Turn
    ) -> None:
        cut = turn.fault is not None and turn.fault.kind == "cut"
        try:
            handler.start_stream()
            start = self._message(model, [], None, turn)
            handler.event("message_start", {"type": "message_start", "message": start})
            handler.event("ping", {"type": "ping"})
            if cut:
                handler.drop()  # mid-answer: no content, no message_stop ever comes
                return
            for index, block in enumerate(blocks):
                self._block(handler, index, block)
            usage = {"output_tokens": turn.output_tokens}
            delta = {"stop_reason": stop, "stop_sequence": None}
            handler.event(
                "message_delta", {"type": "message_delta", "delta": delta, "usage": usage}
            )
            handler.event("message_stop", {"type": "message_stop"})
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _block(handler: Handler, index: int, block: dict[str, Any]) -> None:
        if block["type"] == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            text = block["text"]
            deltas = [
                {"type": "text_delta", "text": text[i : i + 64]} for i in range(0, len(text), 64)
            ]
        else:
            opening = {**block, "input": {}}
            payload = json.dumps(block["input"])
            deltas = [
                {"type": "input_json_delta", "partial_json": payload[i : i + 64]}
                for i in range(0, len(payload), 64)
            ]
        handler.event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": opening},
        )
        for delta in deltas:
            handler.event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        handler.event("content_block_stop", {"type": "content_block_stop", "index": index})

"""A stand-in OpenAI Responses API, streamed as the real one is (for the real Codex CLI).

    with ResponsesAPI(script) as api:         # a codex provider with base_url=api.url
        ...

``POST /v1/responses`` answers with server-sent events: ``response.created``, then per output
item ``response.output_item.added``, its deltas (``response.output_text.delta`` for a message,
``response.function_call_arguments.delta`` for a function call) and ``response.output_item.done``,
then ``response.completed`` with the usage. A tool call is a ``function_call`` item (codex 0.163's
shell tool is the function ``exec_command`` with ``cmd``). ``GET /v1/models`` lists models.
Errors carry OpenAI's error JSON.
"""

from __future__ import annotations

import json
import time
from typing import Any

from support.model_api import Exchange, Fault, Handler, ModelAPI, Turn, texts

_ERROR_CODES = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    429: ("requests", "rate_limit_exceeded"),
}


def error_body(fault: Fault) -> dict[str, Any]:
    kind, code = _ERROR_CODES.get(fault.status, ("server_error", None))
    return {"error": {"message": fault.message, "type": kind, "param": None, "code": code}}


def model_turns(body: Any) -> int:
    """Model answers so far: each run of assistant messages and function calls between tool
    outputs or user messages is one answer."""
    items = body.get("input") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return 0
    turns, in_turn = 0, False
    for item in items:
        ours = isinstance(item, dict) and (
            item.get("role") == "assistant" or item.get("type") in ("function_call", "reasoning")
        )
        turns += ours and not in_turn
        in_turn = ours
    return turns


class ResponsesAPI(ModelAPI):
    """The Responses API stand-in; its key is ``Authorization: Bearer``."""

    @property
    def url(self) -> str:
        """The provider's ``base_url``: ends in ``/v1``."""
        return self.url_for(self.hosts[0], "/v1")

    @property
    def response_exchanges(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.method == "POST" and e.path.endswith("/responses")]

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
        key = exchange.header("authorization").removeprefix("Bearer ")
        if handler.command == "GET" and path.endswith("/models"):
            fault = self.gate(key)
            if fault is not None and self.early_fault(handler, fault, error_body(fault)):
                return
            models = [{"id": "gpt-stand-in", "object": "model", "owned_by": "stand-in"}]
            handler.send_json(200, {"object": "list", "data": models})
            return
        if not path.endswith("/responses") or handler.command != "POST":
            handler.send_json(404, error_body(Fault(status=404, message=f"no route {path}")))
            return
        turn = self.choose(exchange, key)
        if turn.fault is not None and self.early_fault(handler, turn.fault, error_body(turn.fault)):
            return
        self._stream(handler, str((body or {}).get("model") or "gpt-stand-in"), turn)

    def _items(self, turn: Turn) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if turn.text:
            items.append(
                {
                    "type": "message",
                    "id": self.next_id("msg_standin"),
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": turn.text, "annotations": []}],
                }
            )
        for call in turn.tools:
            items.append(
                {
                    "type": "function_call",
                    "id": self.next_id("fc_standin"),
                    "status": "completed",
                    "call_id": self.next_id("call_standin"),
                    "name": call.name,
                    "arguments": json.dumps(call.arguments),
                }
            )
        return items

    def _stream(self, handler: Handler, model: str, turn: Turn) -> None:
        response: dict[str, Any] = {
            "id": self.next_id("resp_standin"),
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "model": model,
            "output": [],
            "usage": None,
        }
        seq = iter(range(1_000_000))
        cut = turn.fault is not None and turn.fault.kind == "cut"

        def send(kind: str, **payload: Any) -> None:
            handler.event(kind, {"type": kind, "sequence_number": next(seq), **payload})

        try:
            handler.start_stream()
            send("response.created", response=response)
            send("response.in_progress", response=response)
            if cut:
                handler.drop()  # mid-answer: no output, no response.completed ever comes
                return
            items = self._items(turn)
            for index, item in enumerate(items):
                self._item(send, index, item)
            usage = {
                "input_tokens": turn.input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": turn.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": turn.input_tokens + turn.output_tokens,
            }
            done = {**response, "status": "completed", "output": items, "usage": usage}
            send("response.completed", response=done)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _item(send: Any, index: int, item: dict[str, Any]) -> None:
        if item["type"] == "message":
            send("response.output_item.added", output_index=index, item={**item, "content": []})
            text = item["content"][0]["text"]
            part = {"type": "output_text", "text": "", "annotations": []}
            send(
                "response.content_part.added",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=part,
            )
            for i in range(0, len(text), 64):
                send(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    delta=text[i : i + 64],
                )
            send(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=text,
            )
            send(
                "response.content_part.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=item["content"][0],
            )
        else:
            send("response.output_item.added", output_index=index, item={**item, "arguments": ""})
            send(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=index,
                delta=item["arguments"],
            )
            send(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                arguments=item["arguments"],
            )
        send("response.output_item.done", output_index=index, item=item)

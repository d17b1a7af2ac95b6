"""OpenAI chat completions ↔ Anthropic Messages, both ways and streamed.

The runtime speaks OpenAI's chat format only; a provider with `"api": "anthropic-messages"` gets
the same conversation as a Messages request (system prompt apart, tool calls as `tool_use`
blocks, tool results as `tool_result` blocks in a user turn, consecutive turns of one role
merged), and its answer (or its event stream) comes back as an OpenAI completion (or chunks).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text", "") for part in content if isinstance(part, dict) and "text" in part
    )


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[dict[str, Any]] = []
    for part in content or []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if url.startswith("data:") and ";base64," in url:
                media_type, data = url[5:].split(";base64,", 1)
                source = {"type": "base64", "media_type": media_type, "data": data}
            else:
                source = {"type": "url", "url": url}
            blocks.append({"type": "image", "source": source})
    return blocks


def _arguments(raw: Any) -> Any:
    if isinstance(raw, dict):
        return raw
    try:
        parsed = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {"_raw": raw}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = _text_of(message.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id", ""),
                "name": function.get("name", ""),
                "input": _arguments(function.get("arguments")),
            }
        )
    return blocks


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": message.get("tool_call_id", ""),
        "content": _text_of(message.get("content")),
    }


def _messages(openai_messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in openai_messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content")))
            continue
        if role == "assistant":
            anthropic_role, blocks = "assistant", _assistant_blocks(message)
        elif role == "tool":
            anthropic_role, blocks = "user", [_tool_result(message)]
        else:
            anthropic_role, blocks = "user", _user_blocks(message.get("content"))
        if not blocks:
            continue
        if turns and turns[-1]["role"] == anthropic_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": anthropic_role, "content": blocks})
    return "\n\n".join(s for s in system if s), turns


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    translated = []
    for tool in tools:
        function = tool.get("function") or {}
        entry: dict[str, Any] = {
            "name": function.get("name", ""),
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
        }
        if function.get("description"):
            entry["description"] = function["description"]
        translated.append(entry)
    return translated


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is None:
        return None
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        translated: dict[str, Any] = {"type": "any"}
    elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        translated = {"type": "tool", "name": choice["function"]["name"]}
    else:
        translated = {"type": "auto"}
    if parallel is False:
        translated["disable_parallel_tool_use"] = True
    return translated


def to_anthropic_request(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The Messages request for an OpenAI chat completion request."""
    system, messages = _messages(body.get("messages") or [])
    request: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens")
        or body.get("max_tokens")
        or DEFAULT_MAX_TOKENS,
    }
    if system:
        request["system"] = system
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            request[name] = body[name]
    stop = body.get("stop")
    if stop:
        request["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        request["tools"] = _tools(body["tools"])
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            request["tool_choice"] = choice
    if body.get("stream"):
        request["stream"] = True
    return request


def openai_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Anthropic usage as OpenAI's: prompt tokens include the cached ones, as OpenAI counts."""
    cache_read = usage.get("cache_read_input_tokens") or 0
    cache_write = usage.get("cache_creation_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + cache_read + cache_write
    completion = usage.get("output_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
        "cache_creation_input_tokens": cache_write,
    }


def to_openai_completion(message: dict[str, Any], model: str) -> dict[str, Any]:
    """The OpenAI chat completion for a Messages response."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": block.get("name", ""),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        reply["tool_calls"] = calls
    return {
        "id": message.get("id", ""),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": reply,
                "finish_reason": _STOP_REASONS.get(message.get("stop_reason") or "", "stop"),
            }
        ],
        "usage": openai_usage(message.get("usage") or {}),
    }


def openai_error(status: int, body: Any) -> dict[str, Any]:
    """An Anthropic error body in OpenAI's error shape."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return {
            "error": {
                "message": str(error.get("message", "")),
                "type": str(error.get("type", "api_error")),
                "code": None,
            }
        }
    return {"error": {"message": f"provider answered {status}", "type": "api_error", "code": None}}


class StreamTranslator:
    """Anthropic stream events in, OpenAI `chat.completion.chunk` SSE bytes out."""

    def __init__(self, model: str, *, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.usage: dict[str, Any] = {}
        self.error: dict[str, Any] | None = None
        self._id = ""
        self._created = int(time.time())
        self._tool_index: dict[int, int] = {}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def feed(self, event: dict[str, Any]) -> bytes:
        """The OpenAI bytes for one Anthropic event (often none)."""
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._id = message.get("id", "")
            self.usage.update(message.get("usage") or {})
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") != "tool_use":
                return b""
            index = self._tool_index.setdefault(event.get("index", 0), len(self._tool_index))
            head = {"index": index, "id": block.get("id", ""), "type": "function"}
            function = {"name": block.get("name", ""), "arguments": ""}
            return self._chunk({"tool_calls": [{**head, "function": function}]})
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "message_delta":
            self.usage.update(event.get("usage") or {})
            reason = (event.get("delta") or {}).get("stop_reason") or ""
            return self._chunk({}, _STOP_REASONS.get(reason, "stop"))
        if kind == "message_stop":
            return self._end()
        if kind == "error":
            self.error = openai_error(500, event)
            return b"data: " + orjson.dumps(self.error) + b"\n\ndata: [DONE]\n\n"
        return b""

    def _delta(self, event: dict[str, Any]) -> bytes:
        delta = event.get("delta") or {}
        if delta.get("type") == "text_delta":
            return self._chunk({"content": delta.get("text", "")})
        if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            index = self._tool_index.get(event.get("index", 0))
            if index is None:
                return b""
            function = {"arguments": delta["partial_json"]}
            return self._chunk({"tool_calls": [{"index": index, "function": function}]})
        return b""

    def _end(self) -> bytes:
        tail = b""
        if self.include_usage:
            chunk = {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self.model,
                "choices": [],
                "usage": openai_usage(self.usage),
            }
            tail = b"data: " + orjson.dumps(chunk) + b"\n\n"
        return tail + b"data: [DONE]\n\n"

"""One agent run against canned in-memory answers, before the runtime asks for its run.

pydantic-ai, the OpenAI client and genai-prices import and build much lazily on first use: about a
second of work that would otherwise fall between the assignment and the first model call. Nothing
leaves the process: the HTTP client's transport answers from memory.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2

from corral.runtime import agent
from corral.runtime.assignment import AssignedTool, Assignment
from corral.runtime.protocol import MODEL_BASE_PATH, OUTPUT_TOOL, SIDECAR_ORIGIN, TOOL_PATH_PREFIX

_PROBE = "probe"
_ASSIGNMENT = Assignment(
    run_id="warm-up",
    model="warm-up",
    prompt="Warm up.",
    skills=("Warm up.",),
    input={"warm": True},
    output_schema={"type": "object", "properties": {"ok": {"type": "boolean"}}},
    tools=(AssignedTool(name=_PROBE, parameters={"type": "object", "properties": {}}),),
    timeout_seconds=60,
)


def _completion(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    function = {"name": tool, "arguments": json.dumps(arguments)}
    call = {"id": f"call_{tool}", "type": "function", "function": function}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    return {
        "id": "warm-up",
        "object": "chat.completion",
        "created": 0,
        "model": "warm-up",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _answer(request: httpx2.Request) -> httpx2.Response:
    if request.url.path == TOOL_PATH_PREFIX + _PROBE:
        return httpx2.Response(200, json={"status": "ok", "result": "ok", "message": None})
    if request.url.path == MODEL_BASE_PATH + "/chat/completions":
        messages = json.loads(request.content)["messages"]
        if any(message.get("role") == "tool" for message in messages):
            return httpx2.Response(200, json=_completion(OUTPUT_TOOL, {"ok": True}))
        return httpx2.Response(200, json=_completion(_PROBE, {}))
    return httpx2.Response(404)


async def warm_up() -> None:
    transport = httpx2.MockTransport(_answer)
    async with httpx2.AsyncClient(transport=transport, base_url=SIDECAR_ORIGIN) as http:
        await agent.run(agent.prepare(_ASSIGNMENT, http))

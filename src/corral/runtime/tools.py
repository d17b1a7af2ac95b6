"""The agent's tools: each assigned tool calls the sidecar, and the built-in `log`."""

from __future__ import annotations

import json
from typing import Any

from pydantic_ai import Tool

from corral.runtime.assignment import AssignedTool
from corral.runtime.protocol import LOG_TOOL, RESERVED_TOOL_NAMES
from corral.runtime.sidecar_client import SidecarClient

_EMPTY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
_LOG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "level": {"type": "string", "enum": ["info", "warning", "error"]},
        "message": {"type": "string"},
    },
    "required": ["level", "message"],
    "additionalProperties": False,
}


class ReservedToolName(ValueError):
    pass


def outcome_text(outcome: dict[str, Any]) -> Any:
    """What the model reads back: the result, or a sentence saying why there is none."""
    status = outcome.get("status")
    message = outcome.get("message") or "no reason given"
    if status == "ok":
        return outcome.get("result")
    if status == "refused":
        return f"refused by policy: {message}"
    return f"tool error: {message}"


def _sidecar_tool(sidecar: SidecarClient, spec: AssignedTool) -> Tool[None]:
    async def call(**arguments: Any) -> Any:
        return outcome_text(await sidecar.call_tool(spec.name, arguments))

    return Tool.from_schema(
        call,
        name=spec.name,
        description=spec.description or None,
        json_schema=spec.parameters or _EMPTY_OBJECT_SCHEMA,
    )


def _log_tool(sidecar: SidecarClient) -> Tool[None]:
    async def log(**arguments: Any) -> str:
        level = arguments.get("level")
        message = arguments.get("message")
        if level not in ("info", "warning", "error"):
            level = "info"
        if not isinstance(message, str):
            message = json.dumps(message, default=str)
        await sidecar.log(level, message)
        return "logged"

    return Tool.from_schema(
        log,
        name=LOG_TOOL,
        description="Write a line to the run's log, for the people who operate this agent.",
        json_schema=_LOG_SCHEMA,
    )


def build_tools(sidecar: SidecarClient, assigned: tuple[AssignedTool, ...]) -> list[Tool[None]]:
    for spec in assigned:
        if spec.name in RESERVED_TOOL_NAMES:
            raise ReservedToolName(f"the tool name {spec.name!r} is reserved by the runtime")
    tools: list[Tool[None]] = [_sidecar_tool(sidecar, spec) for spec in assigned]
    tools.append(_log_tool(sidecar))
    return tools

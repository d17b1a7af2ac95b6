"""A proposed tool call as policies see it: its name and its flat attribute map.

The attributes are the ones the server derives a tool call from on ingest (telemetry
normalization): `gen_ai.operation.name=execute_tool`, `gen_ai.tool.name`, the arguments as JSON
text in `corral.tool.args`, the agent in `gen_ai.agent.name` and `corral.agent.name`, the end
user in `corral.end_user.id`. So a policy sees the same call in the SDK and on the server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from corral_sdk.policy import JsonValue

TOOL_PREFIX = "tool."
SpanValue = str | bool | int | float | tuple[str, ...] | tuple[bool, ...] | tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ProposedCall:
    """What `PolicySet.decide` receives, and what the call's span records."""

    name: str
    tool_name: str
    attributes: dict[str, Any]
    agent: str | None
    end_user: str | None


def tool_name_of(name: str) -> str:
    """`tool.shell` → `shell`; a name without the `tool.` prefix is the tool name itself."""
    return name[len(TOOL_PREFIX) :] if name.startswith(TOOL_PREFIX) else name


def _fallback(value: object) -> JsonValue:
    # Tool arguments can be any Python object; policies see their text.
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return [_plain(item) for item in sorted(value, key=repr)]
    return str(value)


def _plain(value: object) -> JsonValue:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return _fallback(value)


def args_json(args: Mapping[str, Any]) -> str:
    """The arguments as the JSON text `corral.tool.args` carries; any object becomes its text."""
    try:
        return json.dumps(args, ensure_ascii=False, separators=(",", ":"), default=_fallback)
    except (TypeError, ValueError):
        # Keys that are not strings, or a reference cycle: convert explicitly.
        return json.dumps(_fallback(args), ensure_ascii=False, separators=(",", ":"), default=str)


def proposed_call(
    name: str,
    *,
    args: Mapping[str, Any] | None,
    attributes: Mapping[str, Any] | None,
    agent: str | None,
    end_user: str | None,
) -> ProposedCall:
    """The call named `name` with these arguments, extra attributes, agent and end user."""
    tool_name = tool_name_of(name)
    attrs: dict[str, Any] = dict(attributes) if attributes else {}
    attrs.setdefault("gen_ai.operation.name", "execute_tool")
    attrs.setdefault("gen_ai.tool.name", tool_name)
    if args is not None:
        attrs["corral.tool.args"] = args_json(args)
    if agent is not None:
        attrs.setdefault("gen_ai.agent.name", agent)
        attrs.setdefault("corral.agent.name", agent)
    if end_user is not None:
        attrs.setdefault("corral.end_user.id", end_user)
    return ProposedCall(name, tool_name, attrs, agent, end_user)


def span_value(value: object) -> SpanValue:
    """An attribute value OpenTelemetry accepts: primitives and homogeneous sequences as they
    are, anything else as JSON text."""
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple) and value:
        kinds = {type(item) for item in value}
        if len(kinds) == 1 and next(iter(kinds)) in (str, bool, int):
            return cast(SpanValue, tuple(value))
    return json.dumps(value, ensure_ascii=False, default=_fallback)

"""Value types shared by policies, activations and decisions, and the attribute names they use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

JsonValue: TypeAlias = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]

# A flat attribute map as carried by a span or a proposed call (DESIGN.md §5).
Attributes: TypeAlias = Mapping[str, object]

TOOL_NAME_ATTR = "gen_ai.tool.name"
TOOL_ARGS_ATTR = "corral.tool.args"
AGENT_ID_ATTRS = ("gen_ai.agent.id", "gen_ai.agent.name")
END_USER_ATTR = "enduser.id"

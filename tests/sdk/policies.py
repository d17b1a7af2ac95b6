"""Small builders for policies and policy sets in tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from corral_sdk.policy import Action, JsonValue, Policy

# Always true, yet evaluated: the literal `true` is decided without the engine.
ALWAYS = 'name != ""'


def policy(
    policy_id: str,
    action: Action | str = Action.BLOCK,
    expression: str = ALWAYS,
    *,
    priority: int = 0,
    applies_to: tuple[str, ...] = (),
    config: Mapping[str, JsonValue] | None = None,
    shadow: bool = False,
    enabled: bool = True,
) -> Policy:
    """A policy named after its id."""
    return Policy(
        id=policy_id,
        name=f"policy {policy_id}",
        expression=expression,
        action=Action(action),
        action_config=dict(config or {}),
        priority=priority,
        applies_to=applies_to,
        enabled=enabled,
        shadow=shadow,
    )


def tool_call(**args: Any) -> dict[str, object]:
    """The attributes of a tool call with these arguments."""
    return {"gen_ai.tool.name": "shell", "corral.tool.args": json.dumps(args)}

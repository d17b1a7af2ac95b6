"""A policy as stored and exchanged: a CEL expression, an action and where it applies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

from corral_sdk.policy.actions import Action
from corral_sdk.policy.values import JsonValue


@dataclass(frozen=True, slots=True)
class Policy:
    """One policy.

    `priority`: higher is evaluated first. `applies_to`: call-name patterns (see `AppliesTo`);
    empty means every call. `shadow`: record what the policy would have done, never enforce it.
    """

    id: str
    name: str
    expression: str
    action: Action
    action_config: Mapping[str, JsonValue] = field(default_factory=dict)
    priority: int = 0
    applies_to: tuple[str, ...] = ()
    enabled: bool = True
    shadow: bool = False

    def __post_init__(self) -> None:
        # Policies arrive from JSON: accept the action's string and a list of patterns.
        action: object = self.action
        if not isinstance(action, Action):
            object.__setattr__(self, "action", Action(str(action)))
        patterns: object = self.applies_to
        if isinstance(patterns, str):
            raise TypeError("applies_to is a sequence of patterns, not one string")
        if not isinstance(patterns, tuple):
            object.__setattr__(self, "applies_to", tuple(cast(Iterable[str], patterns)))

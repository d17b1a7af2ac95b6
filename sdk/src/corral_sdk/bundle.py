"""The policy bundle served at `GET /api/policies/bundle`, read into engine values.

Keys this version does not know are ignored, as the server's contract asks, so a newer server
can add fields without breaking older clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from corral_sdk.policy import Action, Policy, PolicySet, Posture, ThrottleStore


class BundleInvalid(ValueError):
    """The bundle is not the documented shape (not a compile error: those are `PolicySetError`)."""


@dataclass(frozen=True, slots=True)
class Bundle:
    """One revision of an application's enabled policies and its default posture."""

    revision: str
    application_id: str | None
    default_posture: Posture
    policies: tuple[Policy, ...]
    generated_at: str | None = None

    def compile(self, throttle_store: ThrottleStore, *, strict: bool) -> PolicySet:
        """The policy set of this bundle; with `strict`, any invalid policy raises."""
        return PolicySet(
            self.policies,
            default_posture=self.default_posture,
            throttle_store=throttle_store,
            strict=strict,
        )


def _required(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise BundleInvalid(f"{key} must be a string")
    return value


def _optional(data: Mapping[str, Any], key: str) -> str | None:
    return None if data.get(key) is None else _required(data, key)


def _policy(data: object) -> Policy:
    if not isinstance(data, Mapping):
        raise BundleInvalid("each policy must be an object")
    applies_to = data.get("applies_to") or []
    config = data.get("action_config") or {}
    priority = data.get("priority", 0)
    if not isinstance(applies_to, list) or not all(isinstance(p, str) for p in applies_to):
        raise BundleInvalid("applies_to must be a list of strings")
    if not isinstance(config, Mapping):
        raise BundleInvalid("action_config must be an object")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise BundleInvalid("priority must be an integer")
    action = _required(data, "action")
    try:
        parsed_action = Action(action)
    except ValueError as error:
        raise BundleInvalid(f"unknown action {action!r}") from error
    return Policy(
        id=_required(data, "id"),
        name=_required(data, "name"),
        expression=_required(data, "expression"),
        action=parsed_action,
        action_config=dict(config),
        priority=priority,
        applies_to=tuple(applies_to),
        enabled=data.get("enabled", True) is not False,
        shadow=data.get("shadow", False) is True,
    )


def parse_bundle(data: object) -> Bundle:
    """Read a decoded bundle document; raises `BundleInvalid` when it is not one."""
    if not isinstance(data, Mapping):
        raise BundleInvalid("the bundle must be a JSON object")
    posture = _optional(data, "default_posture") or Posture.ALLOW.value
    try:
        default_posture = Posture(posture)
    except ValueError as error:
        raise BundleInvalid(f"unknown default_posture {posture!r}") from error
    policies = data.get("policies") or []
    if not isinstance(policies, list):
        raise BundleInvalid("policies must be a list")
    return Bundle(
        revision=_required(data, "revision"),
        application_id=_optional(data, "application_id"),
        default_posture=default_posture,
        policies=tuple(_policy(item) for item in policies),
        generated_at=_optional(data, "generated_at"),
    )

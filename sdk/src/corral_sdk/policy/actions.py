"""The seven policy actions, their classes, and the validation of each action's config."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from corral_sdk.policy.values import JsonValue


class Action(StrEnum):
    """What a matching policy does to the call."""

    BLOCK = "block"
    STEER = "steer"
    THROTTLE = "throttle"
    LOG = "log"
    ALERT = "alert"
    REQUIRE_APPROVAL = "require_approval"
    ALLOW = "allow"

    @property
    def enforcing(self) -> bool:
        """Whether an error in this policy fails closed (treated as a match)."""
        return self in _ENFORCING

    @property
    def control(self) -> bool:
        """Whether a match decides the call; `log` and `alert` only record and go on."""
        return self not in _OBSERVING


_ENFORCING = frozenset({Action.BLOCK, Action.REQUIRE_APPROVAL, Action.THROTTLE})
_OBSERVING = frozenset({Action.LOG, Action.ALERT})

# At equal priority the stricter action is evaluated first, so ties never depend on ids.
STRICTNESS: Mapping[Action, int] = {
    Action.BLOCK: 0,
    Action.REQUIRE_APPROVAL: 1,
    Action.THROTTLE: 2,
    Action.STEER: 3,
    Action.ALERT: 4,
    Action.LOG: 5,
    Action.ALLOW: 6,
}


class Posture(StrEnum):
    """What happens to a call that no control policy decided."""

    ALLOW = "allow"
    DENY = "deny"


class ThrottleScope(StrEnum):
    """Whose calls share one token bucket."""

    AGENT = "agent"
    GLOBAL = "global"
    END_USER = "end_user"


@dataclass(frozen=True, slots=True)
class ThrottleConfig:
    """A token bucket of `max_calls` tokens refilled evenly over `window_seconds`."""

    max_calls: int
    window_seconds: float
    scope: ThrottleScope


@dataclass(frozen=True, slots=True)
class ActionSettings:
    """A policy's `action_config`, validated for its action."""

    message: str | None = None
    replacement: JsonValue = None
    throttle: ThrottleConfig | None = None


# Keys each action understands; `alert` also passes any other key through to the notifier.
_KEYS: Mapping[Action, frozenset[str]] = {
    Action.BLOCK: frozenset({"message"}),
    Action.STEER: frozenset({"message", "replacement"}),
    Action.THROTTLE: frozenset({"message", "max_calls", "window_seconds", "scope"}),
    Action.LOG: frozenset({"message"}),
    Action.ALERT: frozenset({"message"}),
    Action.REQUIRE_APPROVAL: frozenset(
        {"message", "approvers_required", "timeout_seconds", "on_timeout", "approver_role"}
    ),
    Action.ALLOW: frozenset({"message"}),
}


def _positive_number(config: Mapping[str, JsonValue], key: str, problems: list[str]) -> float:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(f"{key} must be a number")
        return 0.0
    if value <= 0:
        problems.append(f"{key} must be greater than 0")
    return float(value)


def _throttle(config: Mapping[str, JsonValue], problems: list[str]) -> ThrottleConfig | None:
    max_calls = config.get("max_calls")
    if isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 1:
        problems.append("max_calls must be an integer of at least 1")
    window = _positive_number(config, "window_seconds", problems)
    scope_value = config.get("scope", ThrottleScope.AGENT.value)
    if scope_value not in {scope.value for scope in ThrottleScope}:
        problems.append("scope must be one of agent, global, end_user")
    if problems:
        return None
    assert isinstance(max_calls, int)
    assert isinstance(scope_value, str)
    return ThrottleConfig(max_calls, window, ThrottleScope(scope_value))


# An approval request waits at most a week; more than ten approvers is a misconfiguration.
MAX_APPROVERS = 10
MAX_APPROVAL_TIMEOUT_SECONDS = 7 * 24 * 3600
DEFAULT_APPROVAL_TIMEOUT_SECONDS = 900
# The least role of an organization member who may decide (roles rank member < admin < owner).
APPROVER_ROLES = ("member", "admin", "owner")


def _approval(config: Mapping[str, JsonValue], problems: list[str]) -> None:
    approvers = config.get("approvers_required", 1)
    if isinstance(approvers, bool) or not isinstance(approvers, int) or approvers < 1:
        problems.append("approvers_required must be an integer of at least 1")
    elif approvers > MAX_APPROVERS:
        problems.append(f"approvers_required must be at most {MAX_APPROVERS}")
    if "timeout_seconds" in config:
        timeout = _positive_number(config, "timeout_seconds", problems)
        if timeout > MAX_APPROVAL_TIMEOUT_SECONDS:
            problems.append(f"timeout_seconds must be at most {MAX_APPROVAL_TIMEOUT_SECONDS}")
    if config.get("on_timeout", "deny") not in ("deny", "allow"):
        problems.append("on_timeout must be deny or allow")
    if config.get("approver_role", "member") not in APPROVER_ROLES:
        problems.append(f"approver_role must be one of {', '.join(APPROVER_ROLES)}")


def parse_action_config(
    action: Action, config: Mapping[str, JsonValue]
) -> tuple[ActionSettings | None, list[str]]:
    """Validate `config` for `action`: the settings, or None and every problem found."""
    problems: list[str] = []
    if action is not Action.ALERT:
        unknown = sorted(set(config) - _KEYS[action])
        if unknown:
            problems.append(f"unknown keys for {action.value}: {', '.join(unknown)}")
    message = config.get("message")
    if message is not None and not isinstance(message, str):
        problems.append("message must be a string")
    throttle = None
    if action is Action.THROTTLE:
        throttle = _throttle(config, problems)
    elif action is Action.STEER and "replacement" not in config:
        problems.append("steer needs a replacement")
    elif action is Action.REQUIRE_APPROVAL:
        _approval(config, problems)
    if problems:
        return None, problems
    text = message if isinstance(message, str) else None
    return ActionSettings(text, config.get("replacement"), throttle), problems

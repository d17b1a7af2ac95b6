"""The answer for one proposed call, with the evidence of how it was reached."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from corral_sdk.policy.actions import Action
from corral_sdk.policy.values import JsonValue


@dataclass(frozen=True, slots=True)
class PolicyHit:
    """A policy that matched (or failed closed); for a throttle, whether it admitted the call."""

    policy_id: str
    policy_name: str
    action: Action
    failed_closed: bool = False
    throttle_admitted: bool | None = None


@dataclass(frozen=True, slots=True)
class PolicyFailure:
    """A policy that could not be evaluated, and whether that was treated as a match."""

    policy_id: str
    policy_name: str
    action: Action
    reason: str
    failed_closed: bool
    shadow: bool


@dataclass(frozen=True, slots=True)
class AlertRequest:
    """An alert the caller must fire: the policy, its message and its whole config."""

    policy_id: str
    policy_name: str
    message: str | None
    config: Mapping[str, JsonValue]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a call (`action`) and why.

    `policy_id` is None when the default posture decided. Evidence: `matched` lists the
    enforcing-path policies that matched, in evaluation order (log, alert, admitted throttles
    and the deciding policy); `shadow` the shadow policies that would have acted; `errors` the
    policies that could not be evaluated; `alerts` the alerts to fire; `evaluated` how many
    expressions ran.
    """

    action: Action
    policy_id: str | None = None
    policy_name: str | None = None
    message: str | None = None
    replacement: JsonValue = None
    retry_after_seconds: float | None = None
    action_config: Mapping[str, JsonValue] = field(default_factory=dict)
    matched: tuple[PolicyHit, ...] = ()
    shadow: tuple[PolicyHit, ...] = ()
    errors: tuple[PolicyFailure, ...] = ()
    alerts: tuple[AlertRequest, ...] = ()
    evaluated: int = 0

    @property
    def allowed(self) -> bool:
        """Whether the tool may run as asked (`allow`); steer, throttle, block, approval may not."""
        return self.action is Action.ALLOW

    @property
    def by_default(self) -> bool:
        """Whether no policy decided and the default posture did."""
        return self.policy_id is None

    @property
    def plain_allow(self) -> bool:
        """An allow with nothing to record: no match, shadow result, error or alert."""
        return self.allowed and not (self.matched or self.shadow or self.errors or self.alerts)

"""What a decision means for the caller: return it, or raise the matching exception."""

from __future__ import annotations

from corral_sdk.errors import ApprovalRequired, PolicyBlocked, Throttled
from corral_sdk.policy import Action, Decision


def enforce(decision: Decision, decision_id: str | None) -> None:
    """Raise for block (and the deny posture), throttle and require_approval; else return.

    The client asks for an approval instead of calling this for require_approval; the raise
    here is for callers that decide without a client.

    Allow, steer, and allows with log or alert matches return: the caller reads the decision
    (`decision.replacement` for a steer).
    """
    action = decision.action
    if action is Action.BLOCK:
        raise PolicyBlocked(
            decision.message or "blocked by policy", decision=decision, decision_id=decision_id
        )
    if action is Action.THROTTLE:
        raise Throttled(
            decision.message or "throttled by policy", decision=decision, decision_id=decision_id
        )
    if action is Action.REQUIRE_APPROVAL:
        raise ApprovalRequired(
            decision.message or "this call requires an approval",
            decision=decision,
            decision_id=decision_id,
        )

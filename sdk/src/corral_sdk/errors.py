"""The exceptions the client raises; every one derives from `CorralError`.

A refused call raises a `PolicyBlocked` (or one of its subclasses), so `except PolicyBlocked`
catches every policy refusal; `ServerUnreachable` and `AuthenticationFailed` are about the
connection to Corral, not about the call.
"""

from __future__ import annotations

from corral_sdk.policy import Decision


class CorralError(Exception):
    """Base of every SDK error. `decision` is set when a policy decision caused it."""

    def __init__(
        self,
        message: str,
        *,
        decision: Decision | None = None,
        decision_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.decision = decision
        # The id recorded on the call's span, to find its evidence on the server.
        self.decision_id = decision_id
        self.policy_id = decision.policy_id if decision is not None else None
        self.policy_name = decision.policy_name if decision is not None else None


class PolicyBlocked(CorralError):
    """A policy (or the default posture `deny`, then `policy_id` is None) refused the call."""


class Throttled(PolicyBlocked):
    """A throttle policy's bucket is empty; the call may be retried after a while."""

    def __init__(
        self,
        message: str,
        *,
        decision: Decision | None = None,
        decision_id: str | None = None,
    ) -> None:
        super().__init__(message, decision=decision, decision_id=decision_id)
        self.retry_after_seconds = decision.retry_after_seconds if decision is not None else None


class ApprovalRequired(PolicyBlocked):
    """A policy requires a human approval before the call may run."""


class ApprovalDenied(PolicyBlocked):
    """An approver refused the call; `approval_id` names the request on the server."""

    def __init__(
        self,
        message: str,
        *,
        decision: Decision | None = None,
        decision_id: str | None = None,
        approval_id: str | None = None,
    ) -> None:
        super().__init__(message, decision=decision, decision_id=decision_id)
        self.approval_id = approval_id


class ApprovalTimeout(ApprovalDenied):
    """Nobody approved in time (the request expired, or the client stopped waiting), and the
    policy's `on_timeout` is `deny` (the default)."""


class Halted(CorralError):
    """An active halt (kill switch) covers the call: the application, the agent, the end-user
    or the model is halted or paused. Raised before any policy is evaluated."""

    def __init__(
        self,
        message: str,
        *,
        halt_id: str | None = None,
        scope: str | None = None,
        scope_value: str | None = None,
        state: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.halt_id = halt_id
        self.scope = scope
        self.scope_value = scope_value
        self.state = state
        self.reason = reason


class ServerUnreachable(CorralError):
    """Corral could not be reached, and the client is configured to fail closed."""


class AuthenticationFailed(CorralError):
    """Corral refused the API key (401 or 403)."""

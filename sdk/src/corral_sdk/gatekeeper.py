"""What a call passes before it may go ahead: halts, the bundle in force, the decision, approval.

The `Client` owns the threads and the connections; the gatekeeper only answers, from the state
those threads keep, whether one call may proceed, and raises the refusal when it may not.
"""

from __future__ import annotations

import asyncio

from corral_sdk.approvals import ApprovalRequester
from corral_sdk.call import ProposedCall
from corral_sdk.enforcement import enforce
from corral_sdk.errors import AuthenticationFailed, Halted, ServerUnreachable
from corral_sdk.halt_state import HaltState
from corral_sdk.halts import covering
from corral_sdk.policy import Action, Decision, PolicySet
from corral_sdk.policy_state import PolicyState, logger
from corral_sdk.spans import new_decision_id

# What a check answers before the first bundle arrives, when failing open.
UNENFORCED = Decision(
    Action.ALLOW, message="no policy bundle received yet; allowed (fail_closed is off)"
)


class Gatekeeper:
    def __init__(
        self,
        *,
        policies: PolicyState,
        halts: HaltState,
        approvals: ApprovalRequester,
        fail_closed: bool,
        max_staleness_seconds: float,
        approval_timeout_seconds: float | None,
    ) -> None:
        self._policies = policies
        self._halts = halts
        self._approvals = approvals
        self.fail_closed = fail_closed
        self.max_staleness_seconds = max_staleness_seconds
        self.approval_timeout_seconds = approval_timeout_seconds
        self._warned_unenforced = False

    def refuse_if_halted(self, agent: str | None, end_user: str | None, model: str | None) -> None:
        """Raise `Halted` when an active halt covers the call; checked before any policy."""
        state = self._halts
        state.ensure_attempted()
        if self.fail_closed:
            age = state.age()
            if age is None or age > self.max_staleness_seconds:
                raise ServerUnreachable(
                    "the active halts are unknown or stale and the client fails closed"
                )
        halt = covering(state.halts, agent, end_user, model)
        if halt is None:
            return
        what = (
            "the application"
            if halt.scope == "application"
            else (f"{halt.scope.replace('_', '-')} {halt.scope_value!r}")
        )
        raise Halted(
            f"{what} is {halt.state} ({halt.id}): {halt.reason}",
            halt_id=halt.id,
            scope=halt.scope,
            scope_value=halt.scope_value,
            state=halt.state,
            reason=halt.reason,
        )

    def policy_set(self) -> PolicySet | None:
        """The policy set to decide with, or None to allow before the first bundle."""
        state = self._policies
        state.ensure_attempted()
        policy_set = state.policy_set
        if policy_set is None:
            error = state.last_error
            if isinstance(error, AuthenticationFailed):
                raise AuthenticationFailed(error.message)
            if self.fail_closed:
                reason = error.message if error is not None else "no answer yet"
                raise ServerUnreachable(f"no policy bundle received from Corral ({reason})")
            if not self._warned_unenforced:
                self._warned_unenforced = True
                logger.warning(
                    "corral: no policy bundle received yet; allowing calls until one arrives "
                    "(pass fail_closed=True to refuse them instead)"
                )
            return None
        if self.fail_closed:
            age = state.age()
            if age is None or age > self.max_staleness_seconds:
                since = "never" if age is None else f"{age:.0f}s ago"
                raise ServerUnreachable(
                    f"Corral last answered {since}, more than the allowed "
                    f"{self.max_staleness_seconds:g}s, and the client fails closed"
                )
        return policy_set

    def decide(
        self, call: ProposedCall, policy_set: PolicySet | None
    ) -> tuple[Decision, str | None]:
        """The decision, and an id when it is evidence (anything but a plain allow)."""
        if policy_set is None:
            return UNENFORCED, None
        decision = policy_set.decide(
            call.name, call.attributes, agent=call.agent, end_user=call.end_user
        )
        if decision.plain_allow:
            return decision, None
        for alert in decision.alerts:
            logger.warning(
                "corral: alert from policy %s (%s) on %s: %s",
                alert.policy_name,
                alert.policy_id,
                call.name,
                alert.message or "matched",
            )
        return decision, new_decision_id()

    def settle(
        self, call: ProposedCall, decision: Decision, decision_id: str | None, wait: float | None
    ) -> None:
        """Return when the call may go ahead: raise a refusal, or wait for an approval."""
        if decision.action is not Action.REQUIRE_APPROVAL:
            enforce(decision, decision_id)
            return
        self._approvals.obtain(
            call,
            decision,
            decision_id,
            wait_seconds=wait if wait is not None else self.approval_timeout_seconds,
        )

    async def asettle(
        self, call: ProposedCall, decision: Decision, decision_id: str | None, wait: float | None
    ) -> None:
        """`settle` for coroutines: an approval is waited for in a worker thread."""
        if decision.action is Action.REQUIRE_APPROVAL:
            await asyncio.to_thread(self.settle, call, decision, decision_id, wait)
        else:
            enforce(decision, decision_id)

"""Where a tool call that a policy holds for approval waits for a human's answer.

`ServerApprovalGate` (wired by the run stack) creates the approval request as the run, reports
`approval.waiting` in the run's log, and waits: until enough people approve (the tool then
runs), one denies (the model reads `approval_denied` with the comment), or the request expires
(`approval_expired`, unless the policy's `on_timeout` is `allow`). The wait is bounded by the
request's expiry and the run's own timeout, holds no database connection, and is woken by
`ApprovalSignals` (in-process, or through Redis from another replica) with a slow database poll
as the fallback. `ApprovalsUnavailable` refuses at once: the gateway's default when no gate is
given, so a call is never made without the approval its policy requires.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.db import transaction
from corral.governance.approvals import service as approvals
from corral.governance.approvals.models import APPROVED, DENIED, Approval, ApprovalDecision
from corral.governance.approvals.signals import ApprovalSignals
from corral.governance.approvals.waiting import Watched, wait_until_resolved
from corral.governance.decisions import DecisionOutcome
from corral.identity.access import run_scope
from corral.runs.sidecar.contracts import EventSink, SidecarRun
from corral.telemetry.redact import Redactor

# Without a signal (another process decided, no Redis), a waiting run rereads its request this
# often: slow enough that many waiting runs cost the database little.
RUN_POLL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ApprovalAnswer:
    approved: bool
    # For a refusal: a stable code (`approval_required`, `approval_denied`, `approval_expired`)
    # and what the model reads.
    code: str = "approval_required"
    message: str | None = None


class ApprovalGate(Protocol):
    async def wait(
        self,
        run: SidecarRun,
        tool: str,
        arguments: Mapping[str, Any],
        outcome: DecisionOutcome,
        sink: EventSink,
    ) -> ApprovalAnswer: ...


class ApprovalsUnavailable:
    """Refuses every call that needs an approval: there is no one to ask."""

    async def wait(
        self,
        run: SidecarRun,  # noqa: ARG002 — the gate's signature
        tool: str,  # noqa: ARG002
        arguments: Mapping[str, Any],  # noqa: ARG002
        outcome: DecisionOutcome,
        sink: EventSink,  # noqa: ARG002
    ) -> ApprovalAnswer:
        why = outcome.decision.message or "a policy requires a human approval for this call"
        return ApprovalAnswer(
            approved=False,
            code="approval_required",
            message=f"{why}; approvals cannot be requested here, so the call was not made",
        )


def _denial(decisions: list[ApprovalDecision]) -> str:
    deny = next((d for d in decisions if d.verdict == "deny"), None)
    if deny is None:
        return "an approver denied this call"
    said = f": {deny.comment}" if deny.comment else ""
    return f"{deny.user_email} denied this call{said}"


class ServerApprovalGate:
    """Holds a hosted run's tool call in an approval request until it is answered."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        signals: ApprovalSignals,
        redactor: Redactor,
        poll_seconds: float = RUN_POLL_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._signals = signals
        self._redactor = redactor
        self._poll_seconds = poll_seconds

    async def _hold(
        self, run: SidecarRun, tool: str, arguments: Mapping[str, Any], outcome: DecisionOutcome
    ) -> Approval:
        scope = run_scope(
            run_id=run.run_id,
            org_id=run.org_id,
            application_id=run.application_id,
            end_user_id=run.end_user_id,
            permissions=frozenset(),
        )
        call = approvals.HeldCall(
            call_name=f"tool.{tool}",
            tool_name=tool,
            arguments=arguments,
            agent=run.agent_name,
            end_user_id=run.end_user_id,
            run_id=run.run_id,
            decision_id=outcome.decision_id,
        )
        async with transaction(self._sessions) as session:
            return await approvals.hold(session, scope, call, outcome.decision, self._redactor)

    async def wait(
        self,
        run: SidecarRun,
        tool: str,
        arguments: Mapping[str, Any],
        outcome: DecisionOutcome,
        sink: EventSink,
    ) -> ApprovalAnswer:
        started = time.monotonic()
        approval = await self._hold(run, tool, arguments, outcome)
        await sink.emit("approval.waiting", approvals.event_data(approval))
        # The executor ends the run at its timeout; waiting longer would be pointless.
        bound = float(run.assignment.timeout_seconds) - (time.monotonic() - started)
        watched = Watched(approval.id, approval.application_id)
        answered = await wait_until_resolved(
            self._sessions, self._signals, watched, bound, poll_seconds=self._poll_seconds
        )
        if answered is None:
            return ApprovalAnswer(False, "approval_expired", "the approval request disappeared")
        async with self._sessions() as session:
            found = await approvals.decisions_of(session, [answered.id])
        decisions = found[answered.id]
        data = approvals.event_data(answered)
        status = data["status"]
        await sink.emit("approval.resolved", data)
        if status == APPROVED:
            return ApprovalAnswer(True)
        if status == DENIED:
            return ApprovalAnswer(False, "approval_denied", _denial(decisions))
        if status == "expired" and answered.on_timeout == "allow":
            return ApprovalAnswer(True)
        return ApprovalAnswer(
            False,
            "approval_expired",
            "nobody approved this call before its approval request expired",
        )

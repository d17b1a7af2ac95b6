"""Where a tool call that a policy holds for approval waits for a human's answer.

The approvals issue plugs its gate in here: `wait` returns once an approver answered (or the
request expired). Until then `ApprovalsUnavailable` answers at once with a refusal, so the call
is never made without the approval its policy requires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from corral.governance.decisions import DecisionOutcome
from corral.runs.sidecar.contracts import SidecarRun


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
    ) -> ApprovalAnswer: ...


class ApprovalsUnavailable:
    """Refuses every call that needs an approval: there is no one to ask yet."""

    async def wait(
        self,
        run: SidecarRun,  # noqa: ARG002 — the gate's signature
        tool: str,  # noqa: ARG002
        arguments: Mapping[str, Any],  # noqa: ARG002
        outcome: DecisionOutcome,
    ) -> ApprovalAnswer:
        why = outcome.decision.message or "a policy requires a human approval for this call"
        return ApprovalAnswer(
            approved=False,
            code="approval_required",
            message=f"{why}; approvals cannot be requested from hosted runs yet, "
            "so the call was not made",
        )

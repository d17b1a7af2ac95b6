"""Request and response bodies of the approvals API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from corral.core.schemas import RequestBody

ApprovalStatus = Literal["pending", "approved", "denied", "expired"]
Verdict = Literal["approve", "deny"]
RequesterType = Literal["user", "api_key", "run"]

MAX_COMMENT_CHARS = 2000


class ApprovalCreate(RequestBody):
    """A call the caller's local evaluation says needs an approval (SDKs, non-Python agents).

    The server decides the call again with the application's policies and refuses to hold it
    unless a `require_approval` policy decides it: the policy, not the caller, says what needs
    approval and by how many people.
    """

    name: str = Field(
        min_length=1, max_length=200, description="The call name, e.g. `tool.transfer_money`."
    )
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="The call's arguments, as the policies see them."
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Further attributes of the call, as the SDK sends."
    )
    agent: str | None = Field(None, max_length=200)
    end_user: str | None = Field(None, max_length=200)
    decision_id: str | None = Field(
        None, max_length=64, description="The caller's id for its local decision (its span)."
    )


class ApprovalDecide(RequestBody):
    comment: str | None = Field(None, max_length=MAX_COMMENT_CHARS)


class Requester(BaseModel):
    type: RequesterType
    id: str | None


class ApprovalDecisionRead(BaseModel):
    user_id: str
    user_email: str
    verdict: Verdict
    comment: str | None
    created_at: datetime


class ApprovalRead(BaseModel):
    id: str
    application_id: str
    status: ApprovalStatus = Field(
        description="`expired` as soon as `expires_at` passes, even before the expiry loop "
        "records it."
    )
    call_name: str
    tool_name: str
    arguments: Any = Field(description="The call's arguments, credentials and PII redacted.")
    agent: str | None
    end_user_id: str | None
    run_id: str | None
    requested_by: Requester
    policy_id: str | None
    policy_name: str | None
    message: str | None
    decision_id: str | None
    approvers_required: int
    approvals: int = Field(description="How many distinct people approved so far.")
    approver_role: str = Field(description="The least organization role that may decide.")
    on_timeout: Literal["deny", "allow"] = Field(
        description="What the waiting agent does when the request expires undecided."
    )
    decisions: list[ApprovalDecisionRead]
    expires_at: datetime
    created_at: datetime
    resolved_at: datetime | None
    version: int

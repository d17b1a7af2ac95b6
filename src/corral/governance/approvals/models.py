"""Tables of approvals: a call held for human approval, and each approver's decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from corral.core.clock import utcnow
from corral.core.db import Base, UTCDateTime
from corral.core.ids import new_id

PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
EXPIRED = "expired"
STATUSES = (PENDING, APPROVED, DENIED, EXPIRED)

APPROVE = "approve"
DENY = "deny"


class Approval(Base):
    """A proposed call a `require_approval` policy holds until enough humans approve it.

    `requested_by_type`/`requested_by_id` is who asked (a user, an API key, a run): that identity
    may never decide. `version` counts decisions, for clients that cache.
    """

    __tablename__ = "approvals"
    __table_args__ = (
        Index("ix_approvals_application_status", "application_id", "status"),
        Index("ix_approvals_status_expires", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("apr"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    call_name: Mapped[str] = mapped_column(String(200))
    tool_name: Mapped[str] = mapped_column(String(200))
    # Redacted of credentials and PII before they are stored: approvers see what was asked.
    arguments: Mapped[Any] = mapped_column(JSON)
    agent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    end_user_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    requested_by_type: Mapped[str] = mapped_column(String(16))
    requested_by_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    policy_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    policy_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    decision_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approvers_required: Mapped[int] = mapped_column(Integer, default=1)
    approver_role: Mapped[str] = mapped_column(String(16), default="member")
    on_timeout: Mapped[str] = mapped_column(String(8), default="deny")
    version: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ApprovalDecision(Base):
    """One approver's answer. A user decides a request at most once (the unique constraint
    holds under concurrent requests too). `user_id` is no foreign key: the record outlives the
    account, and `user_email` says who it was."""

    __tablename__ = "approval_decisions"
    __table_args__ = (UniqueConstraint("approval_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("apd"))
    approval_id: Mapped[str] = mapped_column(ForeignKey("approvals.id", ondelete="CASCADE"))
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(40))
    user_email: Mapped[str] = mapped_column(String(320))
    verdict: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

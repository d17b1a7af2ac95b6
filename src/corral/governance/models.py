"""Tables of the governance slice: policies, their versions, posture, and decision evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from corral.core.clock import utcnow
from corral.core.db import Base, UTCDateTime
from corral.core.ids import new_id


def _id(prefix: str) -> Mapped[str]:
    return mapped_column(String(40), primary_key=True, default=lambda: new_id(prefix))


def _org() -> Mapped[str]:
    return mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))


def _app() -> Mapped[str]:
    return mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow)


class PolicyRecord(Base):
    """A stored policy; `version` is the number of its latest `PolicyVersion`."""

    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("application_id", "name"),)

    id: Mapped[str] = _id("pol")
    org_id: Mapped[str] = _org()
    application_id: Mapped[str] = _app()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    expression: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    action_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    applies_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    shadow: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class PolicyVersion(Base):
    """An immutable snapshot of a policy after one change.

    `policy_id` is deliberately not a foreign key: the history of a deleted policy stays, so
    that what a decision was based on can still be read, and the policy can be restored.
    """

    __tablename__ = "policy_versions"
    __table_args__ = (
        UniqueConstraint("policy_id", "version"),
        Index("ix_policy_versions_application_policy", "application_id", "policy_id"),
    )

    id: Mapped[str] = _id("pver")
    org_id: Mapped[str] = _org()
    application_id: Mapped[str] = _app()
    policy_id: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(16))
    restored_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    author_type: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = _created()


class GovernanceSettings(Base):
    """Per-application posture, and the revision bumped by every policy or posture change.

    Replicas compare `revision` with the one their compiled policy set was built from, so a
    change made through any replica is seen by all of them at their next decision.
    """

    __tablename__ = "governance_settings"

    application_id: Mapped[str] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = _org()
    default_posture: Mapped[str] = mapped_column(String(8), default="allow")
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[datetime] = _created()


class DecisionRecord(Base):
    """Evidence of one decision that was not a plain allow, from the API, an SDK or a sidecar."""

    __tablename__ = "policy_decisions"
    __table_args__ = (
        UniqueConstraint("application_id", "decision_id"),
        Index("ix_policy_decisions_application_created", "application_id", "created_at"),
        # Newest first is by id (time-ordered): without it a list sorts the whole application.
        Index("ix_policy_decisions_application_id", "application_id", "id"),
    )

    id: Mapped[str] = _id("dec")
    org_id: Mapped[str] = _org()
    application_id: Mapped[str] = _app()
    decision_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))
    call_name: Mapped[str] = mapped_column(Text)
    agent: Mapped[str | None] = mapped_column(Text, nullable=True)
    end_user: Mapped[str | None] = mapped_column(Text, nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    policy_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    policy_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    matched: Mapped[list[Any]] = mapped_column(JSON, default=list)
    shadow_policy_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    trace_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    span_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = _created()


class DecisionPolicy(Base):
    """Which policies took part in a decision (decided, matched, shadow, error), for filtering
    evidence by policy with an index instead of searching JSON."""

    __tablename__ = "policy_decision_policies"
    __table_args__ = (
        Index(
            "ix_policy_decision_policies_application_policy",
            "application_id",
            "policy_id",
            "record_id",
        ),
    )

    record_id: Mapped[str] = mapped_column(
        ForeignKey("policy_decisions.id", ondelete="CASCADE"), primary_key=True
    )
    policy_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(40))

"""Audit tables: the hash-chained events, each chain's head, and the signed Merkle anchors.

Events and anchors are append-only: database triggers (see `append_only.py`) refuse UPDATE,
DELETE and, on PostgreSQL, TRUNCATE. The chain head is the one mutable row per chain; it is
what appends lock to serialize, and it lets verification notice rows cut from a chain's end.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from corral.audit import append_only
from corral.core.clock import utcnow
from corral.core.db import Base, UTCDateTime
from corral.core.ids import new_id

# A chain per application; events outside any application chain per organization; the rest
# (instance-wide actions) on one system chain.
SYSTEM_CHAIN = "system"


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("chain_id", "seq"),
        Index("ix_audit_events_org_created", "org_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("aud"))
    chain_id: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(BigInteger)
    org_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    application_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    key_id: Mapped[str] = mapped_column(String(32))
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The last appended event of a chain; appends lock this row (one writer per chain)."""

    __tablename__ = "audit_chain_heads"

    chain_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditAnchor(Base):
    """A signed RFC 6962 Merkle root over a run of one chain's events."""

    __tablename__ = "audit_anchors"
    __table_args__ = (UniqueConstraint("chain_id", "first_seq"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("anc"))
    chain_id: Mapped[str] = mapped_column(String(40))
    org_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    application_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    tree_size: Mapped[int] = mapped_column(Integer)
    root_hash: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


for _table in (AuditEvent.__table__, AuditAnchor.__table__):
    append_only.attach(cast(Table, _table))

"""The halts table: one row per kill switch, active until `cleared_at` is stamped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from corral.core.clock import utcnow
from corral.core.db import Base, UTCDateTime
from corral.core.ids import new_id


class Halt(Base):
    """A halt of one scope of an application; `source` says whether an operator or a budget
    created it (a budget clears only its own halts, never an operator's)."""

    __tablename__ = "halts"
    __table_args__ = (Index("ix_halts_application_active", "application_id", "cleared_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("hlt"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    # application | agent | end_user | model | run
    scope: Mapped[str] = mapped_column(String(16))
    # The agent name, end-user id, model or run id; "" for the application.
    scope_value: Mapped[str] = mapped_column(String(255), default="")
    # An end-user halt also matches the end-user's external id, which is what SDKs know.
    end_user_external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # halted: refuse new work and stop running hosted runs; paused: refuse new work only.
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(1024))
    source: Mapped[str] = mapped_column(String(16), default="operator")
    budget_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cleared_by: Mapped[str | None] = mapped_column(String(100), nullable=True)

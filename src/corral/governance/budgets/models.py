"""Budgets, their usage buckets, and the reservations hosted model calls hold.

Usage of a budget in a window is the sum of its buckets in the window (what hosted runs'
sidecars reserved and settled) plus `observed` (what the monitor measured from the spans of
external agents). A fixed window has buckets of its chart step (`windows.STEP`: five minutes
for an hour, an hour for a day, a day for longer windows), so its spend over time can be read
back; a rolling window has buckets of 1/60 of its length, so it slides by that much.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from corral.core.clock import utcnow
from corral.core.db import Base, UTCDateTime
from corral.core.ids import new_id

AMOUNT_TYPE = Numeric(20, 10)


class Budget(Base):
    __tablename__ = "budgets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("bgt"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    application_id: Mapped[str] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    # spend_usd (limit in USD) | calls (limit in model calls)
    metric: Mapped[str] = mapped_column(String(16))
    limit_value: Mapped[Decimal] = mapped_column(AMOUNT_TYPE)
    # 1h | 1d | 7d | 30d | month
    window: Mapped[str] = mapped_column(String(8))
    # fixed (resets at each UTC window boundary) | rolling (the last `window`)
    window_kind: Mapped[str] = mapped_column(String(8))
    # application | agent | model | end_user
    scope: Mapped[str] = mapped_column(String(16))
    scope_value: Mapped[str] = mapped_column(String(255), default="")
    end_user_external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    threshold_percent: Mapped[int | None] = mapped_column(Integer, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Measured by the monitor from external agents' spans in the window starting at
    # `observed_window_start` (hosted runs are counted by their reservations instead).
    observed: Mapped[Decimal] = mapped_column(AMOUNT_TYPE, default=Decimal(0))
    observed_window_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    observed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The window whose threshold / exceeded webhook was sent, so each fires once per window.
    threshold_fired_window: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    exceeded_fired_window: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BudgetBucket(Base):
    """Reserved and settled amounts of one budget in one bucket of time."""

    __tablename__ = "budget_buckets"

    budget_id: Mapped[str] = mapped_column(
        ForeignKey("budgets.id", ondelete="CASCADE"), primary_key=True
    )
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    reserved: Mapped[Decimal] = mapped_column(AMOUNT_TYPE, default=Decimal(0))
    spent: Mapped[Decimal] = mapped_column(AMOUNT_TYPE, default=Decimal(0))


class BudgetReservation(Base):
    """An amount held for a model call in flight; settled after it, or released at expiry."""

    __tablename__ = "budget_reservations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("brs"))
    budget_id: Mapped[str] = mapped_column(ForeignKey("budgets.id", ondelete="CASCADE"), index=True)
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime())
    amount: Mapped[Decimal] = mapped_column(AMOUNT_TYPE)
    run_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

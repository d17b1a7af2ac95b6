"""Tables of ingested spans, their per-trace summaries, and per-application ingest settings.

`spans` is range-partitioned by `start_time` on PostgreSQL (daily partitions created ahead by the
`trace_retention` loop, plus a default partition; `corral.traces.partitions`). PostgreSQL needs
the partition key in every unique constraint, so the primary key is `(id, start_time)` and a span
is unique per `(application_id, trace_id, span_id, start_time)`: an exporter retry re-sends the
same span with the same start time, so retries are still deduplicated.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from corral.core.clock import utcnow
from corral.core.db import Base, UTCDateTime
from corral.core.ids import new_id

COST_TYPE = Numeric(20, 10)
COST_LIMIT = Decimal(10) ** 9
"""Costs at or above this are not stored (a `numeric(20, 10)` column cannot hold them)."""
PRICE_TYPE = Numeric(20, 10)
SPAN_UNIQUE_KEY = ("application_id", "trace_id", "span_id", "start_time")
"""What makes a stored span unique: the writer's conflict target."""
DEFAULT_PARTITION = "spans_default"


def _id(prefix: str) -> Mapped[str]:
    return mapped_column(String(40), primary_key=True, default=lambda: new_id(prefix))


def _org() -> Mapped[str]:
    return mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))


def _app() -> Mapped[str]:
    return mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))


class Span(Base):
    __tablename__ = "spans"
    __table_args__ = (
        UniqueConstraint(*SPAN_UNIQUE_KEY),
        Index("ix_spans_application_start", "application_id", "start_time"),
        {"postgresql_partition_by": "RANGE (start_time)"},
    )

    id: Mapped[str] = _id("spn")
    org_id: Mapped[str] = _org()
    application_id: Mapped[str] = _app()
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str] = mapped_column(String(16))
    parent_span_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    call_name: Mapped[str] = mapped_column(Text)
    start_time: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    end_time: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    status_message: Mapped[str] = mapped_column(Text, default="")
    agent_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    tool_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    model: Mapped[str | None] = mapped_column(Text, nullable=True)
    provider: Mapped[str | None] = mapped_column(Text, nullable=True)
    end_user_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    input_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cost_usd: Mapped[Decimal | None] = mapped_column(COST_TYPE, nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    resource_attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Trace(Base):
    __tablename__ = "traces"
    __table_args__ = (
        UniqueConstraint("application_id", "trace_id"),
        Index("ix_traces_application_start", "application_id", "start_time"),
    )

    id: Mapped[str] = _id("trc")
    org_id: Mapped[str] = _org()
    application_id: Mapped[str] = _app()
    trace_id: Mapped[str] = mapped_column(String(32))
    start_time: Mapped[datetime] = mapped_column(UTCDateTime())
    end_time: Mapped[datetime] = mapped_column(UTCDateTime())
    span_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    root_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    agent_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    end_user_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[Decimal] = mapped_column(COST_TYPE, default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IngestSettings(Base):
    """One application's ingest settings; absent means every setting at its server default.

    `revision` grows with every change to these settings or to the application's price
    overrides: replicas compare it with the revision of the settings they cached.
    """

    __tablename__ = "ingest_settings"

    application_id: Mapped[str] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = _org()
    redaction_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    credentials: Mapped[bool] = mapped_column(Boolean, default=True)
    # None: the default PII entities.
    pii_entities: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    allowlist: Mapped[list[str]] = mapped_column(JSON, default=list)
    key_actions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    detector_actions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    default_action: Mapped[str] = mapped_column(String(16), default="redact")
    disabled_detectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    sampling_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ModelPriceOverride(Base):
    """An application's own price for a model, in USD per million tokens."""

    __tablename__ = "model_price_overrides"
    __table_args__ = (UniqueConstraint("application_id", "model"),)

    id: Mapped[str] = _id("mpo")
    org_id: Mapped[str] = _org()
    application_id: Mapped[str] = _app()
    # Lowercased and stripped, as the price catalog matches names.
    model: Mapped[str] = mapped_column(String(200))
    input: Mapped[Decimal] = mapped_column(PRICE_TYPE)
    output: Mapped[Decimal] = mapped_column(PRICE_TYPE)
    cache_read: Mapped[Decimal | None] = mapped_column(PRICE_TYPE, nullable=True)
    cache_write: Mapped[Decimal | None] = mapped_column(PRICE_TYPE, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

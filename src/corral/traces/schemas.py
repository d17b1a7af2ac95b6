"""API shapes of stored traces and spans."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict


class TraceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    application_id: str
    trace_id: str
    start_time: datetime
    end_time: datetime
    span_count: int
    error_count: int
    root_name: str | None
    agent_name: str | None
    end_user_id: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal


class SpanRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    category: str
    call_name: str
    start_time: datetime
    end_time: datetime
    duration_ms: int
    status: str
    status_message: str
    agent_name: str | None
    tool_name: str | None
    model: str | None
    provider: str | None
    end_user_id: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: Decimal | None
    attributes: dict[str, Any]
    resource_attributes: dict[str, Any]
    events: list[Any]


class TraceDetail(TraceRead):
    spans: list[SpanRead]

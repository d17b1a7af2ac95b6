"""The flat span record that decoding produces and every later ingest stage consumes.

Records are `TypedDict`s rather than frozen dataclasses: building a 17-field dict literal costs
about a quarter of a frozen dataclass `__init__` (which goes through `object.__setattr__` per
field), and the decoder builds one per span on the hot path. Treat records as read-only; stages
that change a span (redaction) return a new record.
"""

from __future__ import annotations

import math
from typing import TypeAlias, TypedDict

AttributeValue: TypeAlias = (
    "str | bool | int | float | None | list[AttributeValue] | dict[str, AttributeValue]"
)
"""A JSON-compatible attribute value: OTLP arrays become lists, key-value lists become dicts,
bytes become base64 text and non-finite doubles become the strings `NaN`, `Infinity` and
`-Infinity` (their protobuf JSON spelling)."""

Attributes: TypeAlias = dict[str, AttributeValue]

SPAN_KIND_NAMES = ("unspecified", "internal", "server", "client", "producer", "consumer")
"""Index = OTLP `SpanKind` number."""

STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
"""OTLP `Status.StatusCode` numbers."""


class EventRecord(TypedDict):
    name: str
    time_unix_nano: int
    attributes: Attributes


class LinkRecord(TypedDict):
    trace_id: str
    span_id: str
    trace_state: str
    attributes: Attributes


class SpanRecord(TypedDict):
    """One span, flattened: ids as lowercase hex, times as unix nanoseconds."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    trace_state: str
    name: str
    kind: int
    start_time_unix_nano: int
    end_time_unix_nano: int
    duration_nanos: int
    status_code: int
    status_message: str
    attributes: Attributes
    # Shared by every span of one resource; never mutate it in place.
    resource_attributes: Attributes
    scope_name: str
    scope_version: str
    events: list[EventRecord]
    links: list[LinkRecord]


MAX_UNIX_NANO = 2**63 - 1
"""Largest timestamp kept: a signed 64-bit column (PostgreSQL `bigint`) must hold it."""

REJECT_TRACE_ID = "invalid trace_id"
REJECT_SPAN_ID = "invalid span_id"
REJECT_PARENT_ID = "invalid parent_span_id"
REJECT_TIME = "timestamp out of range"


def finite_or_text(number: float) -> float | str:
    """Keep a double JSON-safe: non-finite values become their protobuf JSON spelling."""
    if math.isfinite(number):
        return number
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"

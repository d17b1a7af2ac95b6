"""Decoded spans → storable rows: normalize, sample, cost, redact, make every string storable."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict

import orjson

from corral.telemetry.cost import Cost, PriceCatalog, Unpriced, cost_of
from corral.telemetry.normalize import Derived, normalize
from corral.telemetry.records import SPAN_KIND_NAMES, SpanRecord
from corral.telemetry.sampling import keep
from corral.traces.ingest_config import IngestConfig
from corral.traces.models import COST_LIMIT

_MAX_INT = 2**63 - 1
_MAX_NAME = 10_000
DECISION_ACTION = "corral.decision.action"
"""Set by the SDK on every call that was not a plain allow: evidence sampling never drops."""


class SpanRow(TypedDict):
    """One `spans` row, ready to insert."""

    org_id: str
    application_id: str
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


def clean_text(text: str) -> str:
    """PostgreSQL text holds neither NUL nor lone surrogates: replace both."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean(value: Any) -> Any:
    """`clean_text` applied to every string of a JSON-compatible value, keys included.

    Almost every value is clean already: one orjson pass, which refuses lone surrogates and
    escapes NUL as `\\u0000`, proves it far faster than walking the value in Python.
    """
    if isinstance(value, dict | list) and _plainly_clean(value):
        return value
    return _clean(value)


def _plainly_clean(value: dict[str, Any] | list[Any]) -> bool:
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    # A false alarm (the text `\u0000` itself) only costs the slow walk.
    return b"\\u0000" not in encoded


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _opt(text: str | None, limit: int = _MAX_NAME) -> str | None:
    return None if text is None else clean_text(text[:limit])


def _count(value: int | None) -> int | None:
    return None if value is None else max(0, min(value, _MAX_INT))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time(unix_nano: int) -> datetime:
    # Half the cost of fromtimestamp().replace(), with the same microsecond truncation.
    return _EPOCH + timedelta(microseconds=unix_nano // 1000)


@dataclass(slots=True)
class BuiltRows:
    """Rows to store, and what happened on the way (for metrics)."""

    rows: list[SpanRow] = field(default_factory=list)
    sampled_out: int = 0
    unknown_models: Counter[str] = field(default_factory=Counter)
    """Spans priced `unknown_model`, by bounded provider label."""
    redactions: dict[str, int] = field(default_factory=dict)


def build_rows(
    spans: list[SpanRecord],
    *,
    org_id: str,
    application_id: str,
    config: IngestConfig,
    catalog: PriceCatalog,
) -> BuiltRows:
    """Sample, price and redact each span. Sampling and cost read the attributes as sent."""
    built = BuiltRows()
    kept: list[SpanRecord] = []
    kept_fields: list[Derived] = []
    for span in spans:
        fields = normalize(span)
        if not keep(
            span["trace_id"],
            config.sampling_rate,
            has_error=fields["status"] == "error",
            has_decision=DECISION_ACTION in span["attributes"],
            total_tokens=fields["total_tokens"],
            token_threshold=config.token_threshold,
        ):
            built.sampled_out += 1
            continue
        kept.append(span)
        kept_fields.append(fields)
    redacted = config.redactor.redact_batch(kept)
    built.redactions = redacted.counts
    for span, fields, changed in zip(redacted.spans, kept_fields, redacted.changed, strict=True):
        cost = cost_of(fields, catalog, config.price_overrides)
        if isinstance(cost, Unpriced) and cost.reason == "unknown_model":
            built.unknown_models[catalog.provider_label(fields["provider"])] += 1
        usd = cost.total_usd if isinstance(cost, Cost) and cost.total_usd < COST_LIMIT else None
        # Derived text (tool, agent, end-user…) copies attribute text: store what survived
        # redaction. Re-deriving only the spans redaction changed keeps the common case cheap.
        stored = normalize(span) if changed else fields
        built.rows.append(_row(span, fields, stored, usd, org_id, application_id))
    return built


def _row(
    span: SpanRecord,
    fields: Derived,
    stored: Derived,
    usd: Decimal | None,
    org_id: str,
    application_id: str,
) -> SpanRow:
    kind = span["kind"]
    return {
        "org_id": org_id,
        "application_id": application_id,
        "trace_id": span["trace_id"],
        "span_id": span["span_id"],
        "parent_span_id": span["parent_span_id"],
        "name": clean_text(span["name"][:_MAX_NAME]),
        "kind": SPAN_KIND_NAMES[kind] if 0 <= kind < len(SPAN_KIND_NAMES) else "unknown",
        "category": fields["category"],
        "call_name": clean_text(stored["call_name"][:_MAX_NAME]),
        "start_time": _time(span["start_time_unix_nano"]),
        "end_time": _time(span["end_time_unix_nano"]),
        "duration_ms": span["duration_nanos"] // 1_000_000,
        "status": fields["status"],
        "status_message": clean_text(span["status_message"]),
        "agent_name": _opt(stored["agent_name"]),
        "tool_name": _opt(stored["tool_name"]),
        "model": _opt(stored["model"]),
        "provider": _opt(stored["provider"]),
        "end_user_id": _opt(stored["end_user_id"]),
        "input_tokens": _count(fields["input_tokens"]),
        "output_tokens": _count(fields["output_tokens"]),
        "cost_usd": usd,
        "attributes": clean(span["attributes"]),
        "resource_attributes": clean(span["resource_attributes"]),
        "events": clean(list(span["events"])),
    }

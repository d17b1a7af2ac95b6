"""Walk an OTLP/JSON `ExportTraceServiceRequest` into span records.

OTLP/JSON is the protobuf JSON mapping with OTLP's own rules: lowerCamelCase keys only, trace
and span ids as hex (not base64), enums as integers. Like the protobuf JSON parser, this walker
accepts 64-bit integers as numbers or decimal strings, enum names as well as numbers, and treats
`null` as the field's default. A value of the wrong type anywhere makes the whole body
malformed, exactly as a corrupt protobuf body would be; the error names the JSON path.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import orjson

from corral.telemetry.errors import MalformedPayload
from corral.telemetry.records import (
    MAX_UNIX_NANO,
    REJECT_PARENT_ID,
    REJECT_SPAN_ID,
    REJECT_TIME,
    REJECT_TRACE_ID,
    Attributes,
    AttributeValue,
    EventRecord,
    LinkRecord,
    SpanRecord,
    finite_or_text,
)

MAX_VALUE_DEPTH = 32
"""Deepest nesting of array/kvlist attribute values accepted; protobuf's own recursion limit
stops binary bodies at about the same depth."""

_SPAN_KINDS = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}
_STATUS_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_U64_MAX = 2**64 - 1
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1


class _Bad(Exception):
    """A type error inside one span; re-raised as `MalformedPayload` with the span's path."""


def walk(body: bytes, out: list[SpanRecord], reject: Callable[[str], None]) -> None:
    """Append every acceptable span of `body` to `out`; report each rejected span's reason."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc}") from None
    if type(doc) is not dict:
        raise MalformedPayload("body must be a JSON object")
    try:
        resources = _list(doc, "resourceSpans")
    except _Bad as exc:
        raise _located(exc) from None
    for r, resource_spans in enumerate(resources):
        try:
            resource = _obj(resource_spans, "resource")
            resource_attrs = _attributes(resource.get("attributes"), "resource.attributes")
            scopes = _list(resource_spans, "scopeSpans")
        except _Bad as exc:
            raise _located(exc, r) from None
        for s, scope_spans in enumerate(scopes):
            try:
                scope = _obj(scope_spans, "scope")
                scope_name = _str(scope, "name")
                scope_version = _str(scope, "version")
                spans = _list(scope_spans, "spans")
            except _Bad as exc:
                raise _located(exc, r, s) from None
            for i, span in enumerate(spans):
                try:
                    record = _span(span, resource_attrs, scope_name, scope_version, reject)
                except _Bad as exc:
                    raise _located(exc, r, s, i) from None
                if record is not None:
                    out.append(record)


def _located(exc: _Bad, *index: int) -> MalformedPayload:
    labels = ("resourceSpans", "scopeSpans", "spans")
    path = ".".join(f"{label}[{n}]" for label, n in zip(labels, index, strict=False))
    return MalformedPayload(f"{path or 'body'}: {exc}")


def _span(
    span: Any,
    resource_attrs: Attributes,
    scope_name: str,
    scope_version: str,
    reject: Callable[[str], None],
) -> SpanRecord | None:
    if type(span) is not dict:
        raise _Bad("expected an object")
    trace_id = _hex_id(span.get("traceId"), 32, "traceId")
    if not trace_id:
        reject(REJECT_TRACE_ID)
        return None
    span_id = _hex_id(span.get("spanId"), 16, "spanId")
    if not span_id:
        reject(REJECT_SPAN_ID)
        return None
    parent_raw = span.get("parentSpanId")
    parent: str | None = None
    if parent_raw:
        parent = _hex_id(parent_raw, 16, "parentSpanId")
        if parent is None:
            reject(REJECT_PARENT_ID)
            return None
        # An all-zero parent id means "no parent", as some exporters send it for roots.
        parent = parent or None
    start = _u64(span.get("startTimeUnixNano"), "startTimeUnixNano")
    end = _u64(span.get("endTimeUnixNano"), "endTimeUnixNano")
    if start > MAX_UNIX_NANO or end > MAX_UNIX_NANO:
        reject(REJECT_TIME)
        return None
    status = _obj(span, "status")
    events = span.get("events")
    links = span.get("links")
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "trace_state": _str(span, "traceState"),
        "name": _str(span, "name"),
        "kind": _enum(span.get("kind"), _SPAN_KINDS, "kind"),
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "duration_nanos": end - start if end > start else 0,
        "status_code": _enum(status.get("code"), _STATUS_CODES, "status.code"),
        "status_message": _str(status, "message"),
        "attributes": _attributes(span.get("attributes"), "attributes"),
        "resource_attributes": resource_attrs,
        "scope_name": scope_name,
        "scope_version": scope_version,
        "events": [_event(e) for e in _seq(events, "events")] if events else [],
        "links": _links(_seq(links, "links")) if links else [],
    }


def _event(event: Any) -> EventRecord:
    if type(event) is not dict:
        raise _Bad("events: expected objects")
    return {
        "name": _str(event, "name"),
        # Clamped rather than rejected: a bad event time should not cost the whole span.
        "time_unix_nano": min(_u64(event.get("timeUnixNano"), "timeUnixNano"), MAX_UNIX_NANO),
        "attributes": _attributes(event.get("attributes"), "events.attributes"),
    }


def _links(links: list[Any]) -> list[LinkRecord]:
    out: list[LinkRecord] = []
    for link in links:
        if type(link) is not dict:
            raise _Bad("links: expected objects")
        trace_id = _hex_id(link.get("traceId"), 32, "links.traceId")
        span_id = _hex_id(link.get("spanId"), 16, "links.spanId")
        # A link to an unidentifiable span carries nothing useful; drop it, keep the span.
        if not trace_id or not span_id:
            continue
        out.append(
            {
                "trace_id": trace_id,
                "span_id": span_id,
                "trace_state": _str(link, "traceState"),
                "attributes": _attributes(link.get("attributes"), "links.attributes"),
            }
        )
    return out


def _attributes(items: Any, where: str) -> Attributes:
    if not items:
        if items is None or type(items) is list:
            return {}
        raise _Bad(f"{where}: expected a list")
    if type(items) is not list:
        raise _Bad(f"{where}: expected a list")
    out: Attributes = {}
    for kv in items:
        if type(kv) is not dict or type(key := kv.get("key", "")) is not str:
            raise _Bad(f"{where}: expected objects with a string key")
        out[key] = _value(kv.get("value"), 0)
    return out


def _value(obj: Any, depth: int) -> AttributeValue:  # noqa: C901 - one branch per AnyValue case
    if obj is None:
        return None
    if type(obj) is not dict:
        raise _Bad("attribute value: expected an object")
    if not obj:
        return None
    if len(obj) != 1:
        raise _Bad(f"attribute value: expected one field, got {sorted(obj)}")
    ((kind, v),) = obj.items()
    if v is None:
        return None
    if kind == "stringValue":
        if type(v) is str:
            return v
    elif kind == "intValue":
        return _int(v, _I64_MIN, _I64_MAX, "intValue")
    elif kind == "boolValue":
        if type(v) is bool:
            return v
    elif kind == "doubleValue":
        return _double(v)
    elif kind in ("arrayValue", "kvlistValue"):
        if depth >= MAX_VALUE_DEPTH:
            raise _Bad(f"attribute value nests deeper than {MAX_VALUE_DEPTH} levels")
        if type(v) is not dict:
            raise _Bad(f"{kind}: expected an object")
        values = _seq(v.get("values"), f"{kind}.values")
        if kind == "arrayValue":
            return [_value(item, depth + 1) for item in values]
        out: dict[str, AttributeValue] = {}
        for kv in values:
            if type(kv) is not dict or type(key := kv.get("key", "")) is not str:
                raise _Bad("kvlistValue.values: expected objects with a string key")
            out[key] = _value(kv.get("value"), depth + 1)
        return out
    elif kind == "bytesValue":
        if type(v) is str:
            return _base64(v)
    else:
        raise _Bad(f"attribute value: unknown field {kind!r}")
    raise _Bad(f"{kind}: wrong type {type(v).__name__}")


def _double(v: Any) -> float | str:
    if type(v) is float:
        return finite_or_text(v)
    if type(v) is int:
        return float(v)
    if type(v) is str:
        try:
            return finite_or_text(float(v))
        except ValueError:
            pass
    raise _Bad("doubleValue: expected a number")


def _base64(text: str) -> str:
    # Protobuf JSON accepts standard and URL-safe alphabets, padded or not; re-encode to the
    # standard padded form so JSON and protobuf bodies give identical records.
    standard = text.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except binascii.Error:
        raise _Bad("bytesValue: not base64") from None
    return base64.b64encode(raw).decode("ascii")


def _hex_id(value: Any, length: int, where: str) -> str | None:
    """Lowercase hex id; "" when absent or all zero; None when present but unusable."""
    if value is None or value == "":
        return ""
    if type(value) is not str:
        raise _Bad(f"{where}: expected a hex string")
    if len(value) != length:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    # bytes.fromhex skips spaces, so a spaced string decodes to fewer bytes than expected.
    if len(raw) * 2 != length:
        return None
    return raw.hex() if any(raw) else ""


def _u64(value: Any, where: str) -> int:
    return 0 if value is None else _int(value, 0, _U64_MAX, where)


def _int(value: Any, low: int, high: int, where: str) -> int:
    if type(value) is int:
        number = value
    elif (type(value) is str and _is_decimal(value)) or (
        type(value) is float and value.is_integer()
    ):
        number = int(value)
    else:
        raise _Bad(f"{where}: expected an integer")
    if not low <= number <= high:
        raise _Bad(f"{where}: {number} is out of range")
    return number


def _is_decimal(text: str) -> bool:
    digits = text[1:] if text[:1] == "-" else text
    # Twenty digits hold any 64-bit value; the bound also keeps int() away from huge strings.
    return 0 < len(digits) <= 20 and digits.isascii() and digits.isdigit()


def _enum(value: Any, names: dict[str, int], where: str) -> int:
    if value is None:
        return 0
    if type(value) is str and value in names:
        return names[value]
    return _int(value, _I32_MIN, _I32_MAX, where)


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if type(value) is not str:
        raise _Bad(f"{key}: expected a string")
    return value


def _obj(parent: Any, key: str) -> dict[str, Any]:
    if type(parent) is not dict:
        raise _Bad("expected an object")
    value = parent.get(key)
    if value is None:
        return {}
    if type(value) is not dict:
        raise _Bad(f"{key}: expected an object")
    return value


def _list(parent: Any, key: str) -> list[Any]:
    if type(parent) is not dict:
        raise _Bad("expected an object")
    return _seq(parent.get(key), key)


def _seq(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if type(value) is not list:
        raise _Bad(f"{where}: expected a list")
    return value

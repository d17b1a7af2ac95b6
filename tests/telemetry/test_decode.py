"""OTLP decoding: protobuf and JSON give the same flat records; bad spans are counted."""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.telemetry.decode import (
    DecodedBatch,
    decode_json,
    decode_protobuf,
    decode_request,
    is_json_content_type,
)
from corral.telemetry.errors import MalformedPayload, UnsupportedEncoding
from tests.telemetry.otlp_builders import (
    END,
    PARENT_ID,
    SPAN_ID,
    START,
    TRACE_ID,
    request,
    span,
    to_otlp_json,
)

ATTRS: dict[str, Any] = {
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.request.temperature": 0.25,
    "gen_ai.request.stream": True,
    "gen_ai.response.finish_reasons": ["stop", "length"],
    "gen_ai.tool.call.arguments": {"city": "Paris", "days": 3, "tags": ["a", {"deep": None}]},
    "blob": b"\x00\x01binary",
    "empty": None,
    "negative": -(2**63),
}
EXPECTED_ATTRS: dict[str, Any] = {
    **ATTRS,
    "gen_ai.response.finish_reasons": ["stop", "length"],
    "blob": "AAFiaW5hcnk=",
}


def _full_request() -> Any:
    return request(
        [
            span(
                parent_span_id=PARENT_ID,
                attributes=ATTRS,
                status_code=2,
                status_message="upstream timeout",
                events=[("gen_ai.choice", START + 10, {"index": 0})],
                links=[(bytes(range(1, 17)), bytes(range(1, 9)), {"rel": "retry"})],
                trace_state="vendor=1",
            ),
            span(name="root", span_id=PARENT_ID, kind=2),
        ],
        resource={"service.name": "support-bot", "deployment.environment": "prod"},
    )


def _both(message: Any) -> tuple[DecodedBatch, DecodedBatch]:
    return (
        decode_protobuf(message.SerializeToString()),
        decode_json(orjson.dumps(to_otlp_json(message))),
    )


def test_protobuf_span_is_flattened() -> None:
    batch = decode_protobuf(_full_request().SerializeToString())

    assert batch.rejected == {}
    first, root = batch.spans
    assert first["trace_id"] == TRACE_ID.hex()
    assert first["span_id"] == SPAN_ID.hex()
    assert first["parent_span_id"] == PARENT_ID.hex()
    assert first["trace_state"] == "vendor=1"
    assert (first["name"], first["kind"]) == ("chat gpt-4o", 3)
    assert (first["start_time_unix_nano"], first["end_time_unix_nano"]) == (START, END)
    assert first["duration_nanos"] == END - START
    assert (first["status_code"], first["status_message"]) == (2, "upstream timeout")
    assert first["attributes"] == EXPECTED_ATTRS
    assert first["resource_attributes"] == {
        "service.name": "support-bot",
        "deployment.environment": "prod",
    }
    assert (first["scope_name"], first["scope_version"]) == ("corral.tests", "1.0")
    assert first["events"] == [
        {"name": "gen_ai.choice", "time_unix_nano": START + 10, "attributes": {"index": 0}}
    ]
    assert first["links"] == [
        {
            "trace_id": bytes(range(1, 17)).hex(),
            "span_id": bytes(range(1, 9)).hex(),
            "trace_state": "",
            "attributes": {"rel": "retry"},
        }
    ]
    assert root["parent_span_id"] is None
    assert root["resource_attributes"] is first["resource_attributes"]


def test_json_and_protobuf_decode_identically() -> None:
    from_proto, from_json = _both(_full_request())

    assert from_json.spans == from_proto.spans
    assert from_json.rejected == from_proto.rejected == {}


def test_json_accepts_numbers_for_int64_and_names_for_enums() -> None:
    doc = to_otlp_json(_full_request())
    item = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    item["startTimeUnixNano"] = int(item["startTimeUnixNano"])
    item["kind"] = "SPAN_KIND_CLIENT"
    item["status"]["code"] = "STATUS_CODE_ERROR"
    item["attributes"][1]["value"]["intValue"] = 1200
    item["traceId"] = item["traceId"].upper()

    assert (
        decode_json(orjson.dumps(doc)).spans
        == decode_protobuf(_full_request().SerializeToString()).spans
    )


def test_json_spec_example_decodes() -> None:
    body = b"""{"resourceSpans": [{
      "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
      "scopeSpans": [{
        "scope": {"name": "my.library", "version": "1.0.0",
                  "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "x"}}]},
        "spans": [{
          "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
          "parentSpanId": "EEE19B7EC3C1B173", "name": "I'm a server span",
          "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": "1544712661000000000",
          "kind": 2,
          "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}]
        }]
      }]
    }]}"""
    (record,) = decode_json(body).spans
    assert record["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert record["parent_span_id"] == "eee19b7ec3c1b173"
    assert record["duration_nanos"] == 1_000_000_000
    assert record["attributes"] == {"my.span.attr": "some value"}
    assert record["status_code"] == 0


def test_non_finite_doubles_become_their_json_spelling() -> None:
    message = request([span(attributes={"a": math.inf, "b": -math.inf, "c": math.nan})])
    from_proto, from_json = _both(message)
    expected = {"a": "Infinity", "b": "-Infinity", "c": "NaN"}
    assert from_proto.spans[0]["attributes"] == expected
    assert from_json.spans[0]["attributes"] == expected


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"trace_id": b"\x01" * 15}, "invalid trace_id"),
        ({"trace_id": bytes(16)}, "invalid trace_id"),
        ({"trace_id": b""}, "invalid trace_id"),
        ({"span_id": bytes(8)}, "invalid span_id"),
        ({"span_id": b"\x01" * 9}, "invalid span_id"),
        ({"parent_span_id": b"\x01" * 4}, "invalid parent_span_id"),
        ({"start": 2**63}, "timestamp out of range"),
        ({"end": 2**64 - 1}, "timestamp out of range"),
    ],
)
def test_bad_span_is_rejected_and_counted_not_the_batch(
    overrides: dict[str, Any], reason: str
) -> None:
    message = request([span(**overrides), span(name="good")])
    for batch in _both(message):
        assert [s["name"] for s in batch.spans] == ["good"]
        assert batch.rejected == {reason: 1}
        assert batch.rejected_count == 1
        assert batch.error_message() == f"rejected 1 span(s): 1 {reason}"


def test_json_ids_that_are_not_hex_are_rejected() -> None:
    doc = to_otlp_json(request([span(), span(name="good", span_id=b"\x02" * 8)]))
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["traceId"] = "zz" * 16
    batch = decode_json(orjson.dumps(doc))
    assert [s["name"] for s in batch.spans] == ["good"]
    assert batch.rejected == {"invalid trace_id": 1}
    spans[0]["traceId"] = "5b8efff7 98038103d269b633813fc60"
    assert decode_json(orjson.dumps(doc)).rejected == {"invalid trace_id": 1}


def test_all_zero_parent_means_root() -> None:
    for batch in _both(request([span(parent_span_id=bytes(8))])):
        assert batch.spans[0]["parent_span_id"] is None


def test_link_with_bad_ids_is_dropped_and_span_kept() -> None:
    message = request([span(links=[(bytes(16), b"\x01" * 8, {}), (b"\x01" * 16, b"\x01", {})])])
    for batch in _both(message):
        assert batch.spans[0]["links"] == []
        assert batch.rejected == {}


def test_end_before_start_keeps_span_with_zero_duration() -> None:
    for batch in _both(request([span(start=END, end=START)])):
        assert batch.spans[0]["duration_nanos"] == 0


def test_empty_bodies_decode_to_nothing() -> None:
    assert decode_protobuf(b"").spans == []
    assert decode_json(b"{}").spans == []
    assert decode_json(b'{"resourceSpans": []}').spans == []


@pytest.mark.parametrize("body", [b"\xff\xff\xff", b"\x0a\x05abc", b"\x0a\x02\x12\xff"])
def test_malformed_protobuf_raises(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        decode_protobuf(body)


def _json_with_span(**fields: Any) -> bytes:
    item = {"traceId": TRACE_ID.hex(), "spanId": SPAN_ID.hex(), "name": "s", **fields}
    good = {"traceId": TRACE_ID.hex(), "spanId": PARENT_ID.hex(), "name": "ok"}
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [good, item]}]}]})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"resourceSpans": {}}', "resourceSpans: expected a list"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [1]}]}]}', "spans[0]: expected an object"),
        (_json_with_span(name=5), "spans[1]: name: expected a string"),
        (_json_with_span(startTimeUnixNano="soon"), "startTimeUnixNano: expected an integer"),
        (_json_with_span(startTimeUnixNano="-1"), "out of range"),
        (_json_with_span(startTimeUnixNano="9" * 400), "expected an integer"),
        (_json_with_span(kind="SERVER"), "kind: expected an integer"),
        (_json_with_span(traceId=123), "traceId: expected a hex string"),
        (_json_with_span(attributes={}), "attributes: expected a list"),
        (_json_with_span(attributes=[{"key": 1}]), "expected objects with a string key"),
        (
            _json_with_span(
                attributes=[{"key": "a", "value": {"stringValue": "x", "intValue": 1}}]
            ),
            "expected one field",
        ),
        (_json_with_span(attributes=[{"key": "a", "value": {"color": "x"}}]), "unknown field"),
        (_json_with_span(attributes=[{"key": "a", "value": {"intValue": "1.5"}}]), "intValue"),
        (_json_with_span(attributes=[{"key": "a", "value": {"boolValue": "yes"}}]), "boolValue"),
        (_json_with_span(attributes=[{"key": "a", "value": {"bytesValue": "!!"}}]), "base64"),
        (_json_with_span(status=[]), "status: expected an object"),
        (_json_with_span(events=[1]), "events: expected objects"),
    ],
)
def test_malformed_json_raises_with_its_path(body: bytes, message: str) -> None:
    with pytest.raises(MalformedPayload, match=re.escape(message)):
        decode_json(body)


def test_json_value_nesting_is_bounded() -> None:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(40):
        value = {"arrayValue": {"values": [value]}}
    with pytest.raises(MalformedPayload, match="nests deeper"):
        decode_json(_json_with_span(attributes=[{"key": "deep", "value": value}]))


def test_null_means_default_in_json() -> None:
    body = _json_with_span(
        parentSpanId=None,
        kind=None,
        status=None,
        attributes=[{"key": "a", "value": {"stringValue": None}}, {"key": "b", "value": None}],
    )
    record = decode_json(body).spans[1]
    assert record["parent_span_id"] is None
    assert (record["kind"], record["status_code"]) == (0, 0)
    assert record["attributes"] == {"a": None, "b": None}


def test_decode_request_dispatches_on_headers() -> None:
    message = _full_request()
    proto_batch = decode_request(
        message.SerializeToString(),
        content_type="application/x-protobuf",
        content_encoding=None,
        max_size=1 << 20,
    )
    json_batch = decode_request(
        orjson.dumps(to_otlp_json(message)),
        content_type="application/json; charset=utf-8",
        content_encoding="identity",
        max_size=1 << 20,
    )
    assert proto_batch.spans == json_batch.spans
    assert is_json_content_type("Application/JSON") is True
    assert is_json_content_type("application/protobuf") is False
    with pytest.raises(UnsupportedEncoding):
        is_json_content_type("text/plain")
    with pytest.raises(UnsupportedEncoding):
        is_json_content_type(None)


_scalars = (
    st.text(max_size=20)
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=12), _values, max_size=6))
def test_any_attribute_round_trips_through_both_encodings(attrs: dict[str, Any]) -> None:
    from_proto, from_json = _both(request([span(attributes=attrs)]))
    assert from_proto.spans[0]["attributes"] == attrs
    assert from_json.spans[0]["attributes"] == attrs

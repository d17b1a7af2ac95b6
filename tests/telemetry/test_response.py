"""ExportTraceServiceResponse in the request's encoding, with partial_success when needed."""

from __future__ import annotations

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from corral.telemetry.decode import DecodedBatch
from corral.telemetry.response import export_response


def _rejecting() -> DecodedBatch:
    batch = DecodedBatch()
    batch.reject("invalid trace_id")
    batch.reject("invalid trace_id")
    batch.reject("invalid span_id")
    return batch


def test_protobuf_partial_success() -> None:
    response = ExportTraceServiceResponse.FromString(export_response(_rejecting(), as_json=False))
    assert response.HasField("partial_success")
    assert response.partial_success.rejected_spans == 3
    assert response.partial_success.error_message == (
        "rejected 3 span(s): 1 invalid span_id, 2 invalid trace_id"
    )


def test_json_partial_success() -> None:
    assert orjson.loads(export_response(_rejecting(), as_json=True)) == {
        "partialSuccess": {
            "rejectedSpans": "3",
            "errorMessage": "rejected 3 span(s): 1 invalid span_id, 2 invalid trace_id",
        }
    }


def test_full_success_has_no_partial_success() -> None:
    assert export_response(DecodedBatch(), as_json=True) == b"{}"
    response = ExportTraceServiceResponse.FromString(export_response(DecodedBatch(), as_json=False))
    assert not response.HasField("partial_success")

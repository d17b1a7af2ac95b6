"""Encode the OTLP `ExportTraceServiceResponse` in the encoding of the request."""

from __future__ import annotations

import orjson

from corral.telemetry import proto
from corral.telemetry.decode import DecodedBatch


def export_response(batch: DecodedBatch, *, as_json: bool) -> bytes:
    """The success body for an export; `partial_success` is present only if spans were rejected.

    Spans dropped later by sampling are not rejections: the exporter did nothing wrong.
    """
    rejected = batch.rejected_count
    message = batch.error_message()
    if as_json:
        if not rejected:
            return b"{}"
        # int64 fields are strings in the protobuf JSON mapping.
        partial = {"rejectedSpans": str(rejected), "errorMessage": message}
        return orjson.dumps({"partialSuccess": partial})
    return proto.encode_export_response(rejected, message)

"""OTLP/HTTP trace ingest: `POST /v1/traces`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from corral.api.deps import AppScopeDep, ContainerDep, SessionDep
from corral.api.openapi import ERRORS, problem_response
from corral.core.errors import PayloadTooLarge
from corral.telemetry.decode import DecodedBatch, decode_request, is_json_content_type
from corral.telemetry.response import export_response
from corral.traces.ingest import BuiltRows, build_rows

router = APIRouter(tags=["traces"], responses=ERRORS)

_DECOMPRESSED_FACTOR = 8
_EXPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}
_EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An `ExportTraceServiceResponse` in the request's encoding.",
        "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
        },
    },
    415: problem_response("Unsupported Content-Type or Content-Encoding."),
    503: problem_response("The ingest queue is full; see Retry-After."),
}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"OTLP bodies are limited to {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"OTLP bodies are limited to {limit} bytes")
    return bytes(body)


@router.post(
    "/v1/traces",
    response_class=Response,
    responses=_EXPORT_RESPONSES,
    openapi_extra=_EXPORT_BODY,
    summary="Export spans over OTLP/HTTP",
)
async def export_traces(
    request: Request, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> Response:
    scope.require("traces:write")
    content_type = request.headers.get("content-type")
    as_json = is_json_content_type(content_type)
    limit = container.settings.otlp_max_body_bytes
    body = await _read_body(request, limit)
    config = await container.ingest_config.get(session, scope.application_id)

    def decode() -> tuple[DecodedBatch, BuiltRows]:
        batch = decode_request(
            body,
            content_type=content_type,
            content_encoding=request.headers.get("content-encoding"),
            max_size=limit * _DECOMPRESSED_FACTOR,
        )
        built = build_rows(
            batch.spans,
            org_id=scope.org_id,
            application_id=scope.application_id,
            config=config,
            catalog=container.price_catalog,
        )
        return batch, built

    batch, built = await run_in_threadpool(decode)
    container.ingest.offer(built.rows)
    # Counted once the request is accepted: a refused request's retry would count them again.
    container.ingest.record_rejected(batch.rejected_count)
    container.ingest_stats.record(built)
    media = "application/json" if as_json else "application/x-protobuf"
    return Response(export_response(batch, as_json=as_json), media_type=media)

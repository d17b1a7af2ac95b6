"""OTLP/HTTP trace ingest (`POST /v1/traces`) and the trace query API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from corral.api.deps import AppScopeDep, ContainerDep, PageDep, SessionDep
from corral.api.openapi import ERRORS, problem_response
from corral.core.errors import PayloadTooLarge
from corral.core.pagination import Page
from corral.telemetry.decode import DecodedBatch, decode_request, is_json_content_type
from corral.telemetry.response import export_response
from corral.traces import store
from corral.traces.ingest import build_rows
from corral.traces.schemas import SpanRead, TraceDetail, TraceRead

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
async def export_traces(request: Request, scope: AppScopeDep, container: ContainerDep) -> Response:
    scope.require("traces:write")
    content_type = request.headers.get("content-type")
    as_json = is_json_content_type(content_type)
    limit = container.settings.otlp_max_body_bytes
    body = await _read_body(request, limit)

    def decode() -> tuple[DecodedBatch, list[Any]]:
        batch = decode_request(
            body,
            content_type=content_type,
            content_encoding=request.headers.get("content-encoding"),
            max_size=limit * _DECOMPRESSED_FACTOR,
        )
        rows = build_rows(
            batch.spans,
            org_id=scope.org_id,
            application_id=scope.application_id,
            redactor=container.redactor,
            catalog=container.price_catalog,
        )
        return batch, rows

    batch, rows = await run_in_threadpool(decode)
    container.ingest.record_rejected(batch.rejected_count)
    container.ingest.offer(rows)
    media = "application/json" if as_json else "application/x-protobuf"
    return Response(export_response(batch, as_json=as_json), media_type=media)


@router.get("/api/traces", response_model=Page[TraceRead])
async def list_traces(
    scope: AppScopeDep,
    session: SessionDep,
    page: PageDep,
    agent: Annotated[str | None, Query(max_length=500)] = None,
    status: Literal["ok", "error"] | None = None,
    end_user: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[TraceRead]:
    scope.require("traces:read")
    rows, cursor = await store.list_traces(
        session,
        scope,
        agent=agent,
        status=status,
        end_user=end_user,
        cursor=page.cursor,
        limit=page.limit,
    )
    return Page[TraceRead](data=[TraceRead.model_validate(t) for t in rows], next_cursor=cursor)


@router.get("/api/traces/{trace_id}", response_model=TraceDetail)
async def get_trace(
    trace_id: Annotated[str, Path(max_length=64)], scope: AppScopeDep, session: SessionDep
) -> TraceDetail:
    scope.require("traces:read")
    trace, spans = await store.get_trace(session, scope, trace_id)
    return TraceDetail.model_validate(
        {
            **TraceRead.model_validate(trace).model_dump(),
            "spans": [SpanRead.model_validate(s) for s in spans],
        }
    )

"""The one place where errors become HTTP responses: RFC 9457 problem+json with a stable code."""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from corral.core.errors import (
    ConfigError,
    Conflict,
    CorralError,
    InvalidDefinition,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    PreconditionFailed,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from corral.telemetry.errors import MalformedPayload, UnsupportedEncoding

PROBLEM_JSON = "application/problem+json"
_log = structlog.get_logger(__name__)

_STATUS: list[tuple[type[CorralError], int]] = [
    (PayloadTooLarge, 413),
    (InvalidDefinition, 400),
    (UnsupportedMediaType, 415),
    (MalformedPayload, 400),
    (UnsupportedEncoding, 415),
    (InvalidInput, 422),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (PreconditionFailed, 412),
    (RateLimited, 429),
    (Unavailable, 503),
    (ConfigError, 500),
]

_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("permission_denied", "Permission denied"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("invalid_input", "Invalid input"),
    429: ("rate_limited", "Too many requests"),
}


def status_of(error: CorralError) -> int:
    return next((status for cls, status in _STATUS if isinstance(error, cls)), 500)


def problem(
    request_or_scope: Request | MutableMapping[str, Any],
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    extra: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    scope = request_or_scope.scope if isinstance(request_or_scope, Request) else request_or_scope
    state = scope.setdefault("state", {})
    state.setdefault("log_fields", {})["error_code"] = code
    body: dict[str, Any] = {
        "type": f"https://corral.dev/problems/{code.replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": state.get("request_id"),
        **(extra or {}),
    }
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


async def _corral_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CorralError)
    status = status_of(exc)
    headers: dict[str, str] = {}
    extra = dict(exc.extra)
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="corral"'
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_seconds)))
    if "retry_after_seconds" in extra:
        headers["Retry-After"] = str(extra["retry_after_seconds"])
    if status >= 500:
        _log.error("request.failed", code=exc.code, detail=exc.detail)
    return problem(
        request,
        status=status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        extra=extra,
        headers=headers,
    )


def _json_safe(errors: Any) -> Any:
    return orjson.loads(orjson.dumps(errors, default=str))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return problem(
            request,
            status=400,
            code="malformed_json",
            title="Malformed JSON",
            detail="the request body is not valid JSON",
            extra={"errors": _json_safe(errors)},
        )
    return problem(
        request,
        status=422,
        code="validation_error",
        title="Invalid input",
        detail="the request does not match the schema",
        extra={"errors": _json_safe(errors)},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem(
        request, status=exc.status_code, code=code, title=title, detail=detail, headers=exc.headers
    )


async def _data_error(request: Request, exc: Exception) -> Response:
    # A value the database refuses (out of range, bad encoding) is the caller's input, not ours.
    _log.warning("request.data_error", error=type(getattr(exc, "orig", exc)).__name__)
    return problem(
        request,
        status=422,
        code="invalid_value",
        title="Invalid input",
        detail="a value in the request cannot be stored",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(CorralError, _corral_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

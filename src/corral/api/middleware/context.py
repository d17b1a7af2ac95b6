"""Request id, the access log line, metrics and the last-resort 500."""

from __future__ import annotations

import secrets
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.api.middleware._asgi import (
    PROBES,
    REQUEST_ID,
    client_ip,
    has_nul,
    header,
    route_template,
    send_problem,
)
from corral.core.metrics import Metrics

_log = structlog.get_logger("corral.access")


class RequestContextMiddleware:
    """Request id, one structured access-log line, metrics, and a last-resort 500 problem."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, trusted_hops: int) -> None:
        self.app = app
        self.metrics = metrics
        self.trusted_hops = trusted_hops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header(scope, b"x-request-id")
        request_id = incoming if incoming and REQUEST_ID.match(incoming) else _new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_ip"] = client_ip(scope, self.trusted_hops)
        fields: dict[str, Any] = state.setdefault("log_fields", {})
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            if has_nul(scope):
                await send_problem(
                    scope,
                    receive,
                    send_with_id,
                    status=400,
                    code="invalid_characters",
                    title="Bad request",
                    detail="the URL must not contain NUL characters",
                )
                return
            await self.app(scope, receive, send_with_id)
        except Exception:  # noqa: BLE001 — the last resort: log it and answer a problem+json 500
            _log.exception("request.unhandled_error", path=scope.get("path"))
            if not response_started:
                status = 500
                await send_problem(
                    scope,
                    receive,
                    send_with_id,
                    status=500,
                    code="internal_error",
                    title="Internal server error",
                    detail="the server failed to handle this request; quote the request_id",
                )
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            if scope.get("path") not in PROBES:
                _log.info(
                    "request",
                    method=method,
                    route=route,
                    path=scope.get("path"),
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    client_ip=state.get("client_ip"),
                    **fields,
                )
            structlog.contextvars.unbind_contextvars("request_id")


def _new_request_id() -> str:
    return "req_" + secrets.token_hex(12)

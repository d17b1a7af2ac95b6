"""Pure-ASGI middleware: request context and logging, rate limiting, body limits, idempotency."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.api.errors import problem, status_of
from corral.core.errors import CorralError
from corral.core.idempotency import IdempotencyStore, StoredResponse
from corral.core.metrics import Metrics
from corral.core.ratelimit import RateLimiter

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,64}$")
_PROBES = frozenset({"/health", "/ready", "/metrics"})
_log = structlog.get_logger("corral.access")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def client_ip(scope: Scope, trusted_hops: int) -> str:
    """The client address, trusting `trusted_hops` proxies' X-Forwarded-For entries."""
    peer = scope.get("client")
    direct = peer[0] if peer else "unknown"
    if trusted_hops <= 0:
        return direct
    forwarded = _header(scope, b"x-forwarded-for")
    if not forwarded:
        return direct
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    if not hops:
        return direct
    return hops[-trusted_hops] if len(hops) >= trusted_hops else hops[0]


def _has_nul(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"\x00" in query or b"%00" in query.lower()


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "<unmatched>"


async def _send_problem(scope: Scope, receive: Receive, send: Send, **kwargs: Any) -> None:
    await problem(scope, **kwargs)(scope, receive, send)


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
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else _new_request_id()
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
            if _has_nul(scope):
                await _send_problem(
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
                await _send_problem(
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
            route = _route_template(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            if scope.get("path") not in _PROBES:
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


class RateLimitMiddleware:
    """Token bucket per identity: the credential's digest, else the client address."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, metrics: Metrics) -> None:
        self.app = app
        self.limiter = limiter
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in _PROBES or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        credential = _header(scope, b"authorization")
        state = scope.setdefault("state", {})
        identity = (
            "cred:" + hashlib.sha256(credential.encode()).hexdigest()
            if credential
            else "ip:" + str(state.get("client_ip", "unknown"))
        )
        try:
            decision = await self.limiter.hit(identity)
        except Exception as exc:  # noqa: BLE001 — a limiter outage must not become an API outage
            self.metrics.rate_limiter_errors.inc()
            _log.warning("rate_limit.unavailable", error=type(exc).__name__)
            await self.app(scope, receive, send)
            return
        headers = [
            (b"x-ratelimit-limit", str(decision.limit).encode()),
            (b"x-ratelimit-remaining", str(decision.remaining).encode()),
        ]
        if not decision.allowed:
            self.metrics.rate_limited.inc()
            retry = max(1, int(decision.retry_after_seconds + 0.999))
            await _send_problem(
                scope,
                receive,
                _with_headers(send, headers),
                status=429,
                code="rate_limited",
                title="Too many requests",
                detail=f"rate limit exceeded; retry in {retry} seconds",
                headers={"Retry-After": str(retry)},
            )
            return
        await self.app(scope, receive, _with_headers(send, headers))


def _with_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", []).extend(headers)
        await send(message)

    return wrapped


class BodyLimitMiddleware:
    """Refuses bodies above the limit before reading them into memory."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, prefix: str = "/api/") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_problem(
                scope,
                receive,
                send,
                status=413,
                code="payload_too_large",
                title="Payload too large",
                detail=f"request bodies are limited to {self.max_bytes} bytes",
            )
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge:
            await _send_problem(
                scope,
                receive,
                send,
                status=413,
                code="payload_too_large",
                title="Payload too large",
                detail=f"request bodies are limited to {self.max_bytes} bytes",
            )


class _BodyTooLarge(Exception):
    pass


class IdempotencyMiddleware:
    """Replays the stored outcome of a POST retried with the same `Idempotency-Key`."""

    def __init__(
        self, app: ASGIApp, *, store_for: Callable[[], IdempotencyStore], prefix: str = "/api/"
    ) -> None:
        self.app = app
        self.store_for = store_for
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if (
            key is None
            or scope.get("method") != "POST"
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        credential = _header(scope, b"authorization") or _session_cookie(scope) or "anonymous"
        identity = hashlib.sha256(credential.encode()).hexdigest()
        digest = hashlib.sha256(scope["path"].encode() + b"\0" + body).hexdigest()
        store = self.store_for()
        try:
            stored = await store.begin(identity, key, digest)
        except CorralError as exc:
            await _send_problem(
                scope,
                receive,
                send,
                status=status_of(exc),
                code=exc.code,
                title=exc.title,
                detail=exc.detail,
            )
            return
        if stored is not None:
            await _replay(stored, send)
            return
        captured = _Capture(send)
        try:
            await self.app(scope, _replay_body(body), captured)
        except BaseException:
            await store.abandon(identity, key)
            raise
        if captured.status is None or captured.status >= 500:
            await store.abandon(identity, key)
        else:
            await store.complete(
                identity,
                key,
                StoredResponse(captured.status, bytes(captured.body), captured.content_type),
            )


def _session_cookie(scope: Scope) -> str | None:
    cookie = _header(scope, b"cookie")
    if not cookie:
        return None
    for part in cookie.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "corral_session":
            return value
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay_body(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _replay(stored: StoredResponse, send: Send) -> None:
    headers = [(b"idempotent-replayed", b"true")]
    if stored.content_type:
        headers.append((b"content-type", stored.content_type.encode()))
    headers.append((b"content-length", str(len(stored.body)).encode()))
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})


class _Capture:
    def __init__(self, send: Send) -> None:
        self.send = send
        self.status: int | None = None
        self.content_type: str | None = None
        self.body = bytearray()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            for name, value in message.get("headers", ()):
                if name.lower() == b"content-type":
                    self.content_type = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            self.body.extend(message.get("body", b""))
        await self.send(message)

"""Token-bucket rate limiting per identity at the HTTP edge."""

from __future__ import annotations

import hashlib

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from corral.api.middleware._asgi import PROBES, header, send_problem, with_headers
from corral.core.metrics import Metrics
from corral.core.ratelimit import RateLimiter

_log = structlog.get_logger("corral.access")


class RateLimitMiddleware:
    """Token bucket per identity: the credential's digest, else the client address."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, metrics: Metrics) -> None:
        self.app = app
        self.limiter = limiter
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in PROBES or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        credential = header(scope, b"authorization")
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
            await send_problem(
                scope,
                receive,
                with_headers(send, headers),
                status=429,
                code="rate_limited",
                title="Too many requests",
                detail=f"rate limit exceeded; retry in {retry} seconds",
                headers={"Retry-After": str(retry)},
            )
            return
        await self.app(scope, receive, with_headers(send, headers))

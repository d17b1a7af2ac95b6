"""Pure-ASGI middleware, one concern per module."""

from __future__ import annotations

from corral.api.middleware._asgi import client_ip
from corral.api.middleware.body_limit import BodyLimitMiddleware
from corral.api.middleware.context import RequestContextMiddleware
from corral.api.middleware.idempotency import IdempotencyMiddleware
from corral.api.middleware.rate_limit import RateLimitMiddleware

__all__ = [
    "BodyLimitMiddleware",
    "IdempotencyMiddleware",
    "RateLimitMiddleware",
    "RequestContextMiddleware",
    "client_ip",
]

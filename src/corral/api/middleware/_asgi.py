"""Small helpers shared by the middleware: headers, route templates, problem answers."""

from __future__ import annotations

import re
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from corral.api.errors import problem

PROBES = frozenset({"/health", "/ready", "/metrics"})
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,64}$")


def header(scope: Scope, name: bytes) -> str | None:
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
    forwarded = header(scope, b"x-forwarded-for")
    if not forwarded:
        return direct
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    if not hops:
        return direct
    return hops[-trusted_hops] if len(hops) >= trusted_hops else hops[0]


def has_nul(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"\x00" in query or b"%00" in query.lower()


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "<unmatched>"


async def send_problem(scope: Scope, receive: Receive, send: Send, **kwargs: Any) -> None:
    await problem(scope, **kwargs)(scope, receive, send)


def with_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", []).extend(headers)
        await send(message)

    return wrapped

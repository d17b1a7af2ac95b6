"""`Idempotency-Key`: replay the stored outcome of a retried creation."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.api.errors import status_of
from corral.api.middleware._asgi import header, send_problem
from corral.core.errors import CorralError
from corral.core.idempotency import IdempotencyStore, StoredResponse


class IdempotencyMiddleware:
    """Replays the stored outcome of a POST retried with the same `Idempotency-Key`."""

    def __init__(
        self, app: ASGIApp, *, store_for: Callable[[], IdempotencyStore], prefix: str = "/api/"
    ) -> None:
        self.app = app
        self.store_for = store_for
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if (
            key is None
            or scope.get("method") != "POST"
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        credential = header(scope, b"authorization") or _session_cookie(scope) or "anonymous"
        identity = hashlib.sha256(credential.encode()).hexdigest()
        digest = hashlib.sha256(scope["path"].encode() + b"\0" + body).hexdigest()
        store = self.store_for()
        try:
            stored = await store.begin(identity, key, digest)
        except CorralError as exc:
            await send_problem(
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
    cookie = header(scope, b"cookie")
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

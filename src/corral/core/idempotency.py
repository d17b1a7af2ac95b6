"""Idempotency keys: a creation retried with the same key replays the first outcome.

Same key and same body → the stored response; same key, different body → 422; the first request
still running → 409. Records are kept for a day and scoped to the caller's credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.core.errors import Conflict, InvalidInput
from corral.core.idempotency_models import IdempotencyRecord

RETENTION = timedelta(hours=24)
MAX_KEY_CHARS = 255


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes
    content_type: str | None


class IdempotencyStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def begin(
        self, identity_digest: str, key: str, request_digest: str
    ) -> StoredResponse | None:
        """Claim the key (returns None) or return the response stored under it."""
        if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
            raise InvalidInput(
                f"Idempotency-Key must be 1–{MAX_KEY_CHARS} printable characters",
                code="invalid_idempotency_key",
            )
        now = utcnow()
        try:
            async with transaction(self._sessions) as session:
                await session.execute(
                    delete(IdempotencyRecord).where(
                        IdempotencyRecord.identity_digest == identity_digest,
                        IdempotencyRecord.idempotency_key == key,
                        IdempotencyRecord.expires_at <= now,
                    )
                )
                session.add(
                    IdempotencyRecord(
                        identity_digest=identity_digest,
                        idempotency_key=key,
                        request_digest=request_digest,
                        expires_at=now + RETENTION,
                    )
                )
            return None
        except IntegrityError:
            pass
        async with transaction(self._sessions) as session:
            record = await session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.identity_digest == identity_digest,
                    IdempotencyRecord.idempotency_key == key,
                )
            )
        if record is None or record.response_status is None:
            # None: the claim vanished between our insert and read, as only an in-flight one can.
            raise Conflict(
                "a request with this Idempotency-Key is in flight", code="idempotency_in_flight"
            )
        if record.request_digest != request_digest:
            raise InvalidInput(
                "this Idempotency-Key was used with a different request",
                code="idempotency_key_reused",
            )
        return StoredResponse(
            record.response_status, record.response_body or b"", record.response_content_type
        )

    async def complete(self, identity_digest: str, key: str, response: StoredResponse) -> None:
        async with transaction(self._sessions) as session:
            await session.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.identity_digest == identity_digest,
                    IdempotencyRecord.idempotency_key == key,
                )
                .values(
                    response_status=response.status,
                    response_body=response.body,
                    response_content_type=response.content_type,
                )
            )

    async def abandon(self, identity_digest: str, key: str) -> None:
        """Forget a claim whose request failed on our side, so a retry can run again."""
        async with transaction(self._sessions) as session:
            await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.identity_digest == identity_digest,
                    IdempotencyRecord.idempotency_key == key,
                )
            )

    async def purge_expired(self) -> int:
        async with transaction(self._sessions) as session:
            result = await session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
            )
        return int(getattr(result, "rowcount", 0) or 0)

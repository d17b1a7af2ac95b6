"""Sending due deliveries: claim, sign, POST through the egress guard, record, retry or give up.

Every replica runs the sender. A pass claims due deliveries by pushing their next attempt past a
lease (with `SKIP LOCKED` on PostgreSQL, so replicas never claim the same row), commits, and only
then makes the HTTP requests: no transaction is open while a receiver is slow. A replica that dies
mid-attempt leaves its claims to expire and be attempted again, so delivery is at least once and
receivers deduplicate on `webhook-id`.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.clock import utcnow
from corral.core.crypto import DecryptionFailed, EncryptionKeyring
from corral.core.db import transaction
from corral.core.egress.client import EgressClient, EgressLimits, EgressPolicy
from corral.core.egress.errors import EgressError
from corral.core.settings import WebhookSettings
from corral.webhooks import secret_store, signing
from corral.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage

_log = structlog.get_logger(__name__)

# Receivers answer with a status; their bodies only matter as a hint in the history.
RESPONSE_BYTES_KEPT = 4096
ERROR_CHARS_KEPT = 500
# Spread retries so that receivers coming back are not hit by every delivery at once.
JITTER = 0.2


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status_code: int | None
    latency_ms: int
    error: str | None
    retry_after_seconds: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class _Recorded:
    delivery: WebhookDelivery
    result: AttemptResult
    give_up: bool


def egress_client(settings: WebhookSettings) -> EgressClient:
    timeout = settings.timeout_seconds
    return EgressClient(
        policy=EgressPolicy(allow_private=settings.allow_private_targets),
        limits=EgressLimits(
            connect_timeout_seconds=min(timeout, 5.0),
            read_timeout_seconds=timeout,
            total_timeout_seconds=timeout,
            max_response_bytes=RESPONSE_BYTES_KEPT,
            # A receiver answers where it was registered; a redirect is a failed attempt.
            max_redirects=0,
        ),
        user_agent="corral-webhooks",
    )


def backoff_seconds(settings: WebhookSettings, attempts: int) -> float:
    """The wait after the `attempts`-th failure: doubling from the base, capped, jittered."""
    delay: float = min(
        settings.backoff_base_seconds * 2.0 ** (attempts - 1), settings.backoff_max_seconds
    )
    return delay * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 — spreading, not secrecy


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class WebhookSender:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keyring: EncryptionKeyring,
        settings: WebhookSettings,
        client: EgressClient | None = None,
    ) -> None:
        self._sessions = sessions
        self._keyring = keyring
        self._settings = settings
        self._client = client or egress_client(settings)
        # A claim outlives an attempt by a wide margin, so a live sender's claim never lapses.
        self._lease = timedelta(seconds=settings.timeout_seconds * 2 + 30)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def deliver_due(self) -> int:
        """Attempt every due delivery (in claimed batches); the number attempted.

        A batch is loaded in one query, its requests run concurrently, and their results are
        recorded together in one transaction: per delivery, the database sees one claim share,
        one read share and one write share, whatever the receivers do.
        """
        attempted = 0
        batch = self._settings.concurrency * 4
        limiter = anyio.CapacityLimiter(self._settings.concurrency)
        while True:
            claimed = await self._claim(batch)
            if not claimed:
                return attempted
            results: list[_Recorded] = []
            async with anyio.create_task_group() as tasks:
                for row in await self._load(claimed):
                    tasks.start_soon(self._attempt_guarded, limiter, row, results)
            await self._record(results)
            attempted += len(claimed)
            if len(claimed) < batch:
                return attempted

    async def _attempt_guarded(
        self,
        limiter: anyio.CapacityLimiter,
        row: tuple[WebhookDelivery, WebhookEndpoint, WebhookMessage],
        results: list[_Recorded],
    ) -> None:
        delivery = row[0]
        async with limiter:
            try:
                results.append(await self._attempt(*row))
            except Exception:  # noqa: BLE001 — see below
                # One broken delivery must not stop the others; its claim lapses and it is
                # attempted again.
                _log.exception("webhook.attempt_failed", delivery_id=delivery.id)

    async def _claim(self, limit: int) -> list[str]:
        now = utcnow()
        async with transaction(self._sessions) as session:
            ids = list(
                await session.scalars(
                    select(WebhookDelivery.id)
                    .where(
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_attempt_at <= now,
                    )
                    .order_by(WebhookDelivery.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            if ids:
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id.in_(ids))
                    .values(next_attempt_at=now + self._lease)
                    .execution_options(synchronize_session=False)
                )
        return ids

    async def _load(
        self, delivery_ids: list[str]
    ) -> list[tuple[WebhookDelivery, WebhookEndpoint, WebhookMessage]]:
        """The claimed deliveries still there (a deleted endpoint takes its deliveries along)."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(WebhookDelivery, WebhookEndpoint, WebhookMessage)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
                .where(WebhookDelivery.id.in_(delivery_ids))
            )
            return [(delivery, endpoint, message) for delivery, endpoint, message in rows]

    async def _attempt(
        self, delivery: WebhookDelivery, endpoint: WebhookEndpoint, message: WebhookMessage
    ) -> _Recorded:
        if not endpoint.enabled:
            return _Recorded(delivery, AttemptResult(None, 0, "the endpoint is disabled"), True)
        try:
            result = await self._post(endpoint, message)
        except DecryptionFailed:
            failure = AttemptResult(None, 0, "the endpoint's secret cannot be decrypted")
            return _Recorded(delivery, failure, True)
        give_up = not result.succeeded and delivery.attempts + 1 >= self._settings.max_attempts
        return _Recorded(delivery, result, give_up)

    async def _post(self, endpoint: WebhookEndpoint, message: WebhookMessage) -> AttemptResult:
        now = utcnow()
        body = json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False).encode()
        headers = signing.headers(
            secret_store.secrets_in_use(self._keyring, endpoint, now),
            message.id,
            int(now.timestamp()),
            body,
        )
        started = time.perf_counter()
        try:
            response = await self._client.request(
                "POST", endpoint.url, headers=headers, content=body, truncate=True
            )
        except EgressError as exc:
            latency = int((time.perf_counter() - started) * 1000)
            return AttemptResult(None, latency, f"{exc.code}: {exc}"[:ERROR_CHARS_KEPT])
        latency = int((time.perf_counter() - started) * 1000)
        error = None
        if not 200 <= response.status < 300:
            error = response.body.decode(errors="replace")[:ERROR_CHARS_KEPT] or None
        return AttemptResult(
            response.status,
            latency,
            error,
            _retry_after(response.headers.get("retry-after")),
        )

    async def _record(self, results: list[_Recorded]) -> None:
        if not results:
            return
        now = utcnow()
        async with transaction(self._sessions) as session:
            for recorded in results:
                delivery, result = recorded.delivery, recorded.result
                attempts = delivery.attempts + 1
                status, next_attempt_at = self._next(
                    attempts, result, now, give_up=recorded.give_up
                )
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery.id)
                    .values(
                        status=status,
                        attempts=attempts,
                        next_attempt_at=next_attempt_at,
                        last_attempt_at=now,
                        last_status_code=result.status_code,
                        last_latency_ms=result.latency_ms,
                        last_error=result.error,
                    )
                    .execution_options(synchronize_session=False)
                )
                session.add(
                    WebhookAttempt(
                        delivery_id=delivery.id,
                        attempted_at=now,
                        status_code=result.status_code,
                        latency_ms=result.latency_ms,
                        error=result.error,
                    )
                )
                _log.info(
                    "webhook.attempt",
                    delivery_id=delivery.id,
                    endpoint_id=delivery.endpoint_id,
                    status=status,
                    attempt=attempts,
                    status_code=result.status_code,
                    latency_ms=result.latency_ms,
                )

    def _next(
        self, attempts: int, result: AttemptResult, now: datetime, *, give_up: bool
    ) -> tuple[str, datetime | None]:
        if result.succeeded:
            return "succeeded", None
        if give_up:
            return "dead", None
        delay = backoff_seconds(self._settings, attempts)
        if result.retry_after_seconds is not None:
            delay = min(max(delay, result.retry_after_seconds), self._settings.backoff_max_seconds)
        return "pending", now + timedelta(seconds=delay)

"""Token-bucket rate limiting per identity, in process or shared by every replica through Redis.

A bucket starts full (`burst` tokens), refills continuously at `rate_per_second` up to `burst`, and
each hit takes one token when at least one is there.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as redis_asyncio

from corral.core.token_bucket import REDIS_BUCKET_SCRIPT


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_seconds: float


class RateLimiter(Protocol):
    async def hit(self, identity: str) -> RateDecision: ...

    async def aclose(self) -> None: ...


def _check(rate_per_second: float, burst: int) -> None:
    if not rate_per_second > 0 or math.isinf(rate_per_second):
        raise ValueError(f"rate_per_second must be a positive finite number, got {rate_per_second}")
    if burst < 1:
        raise ValueError(f"burst must be at least 1, got {burst}")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class MemoryRateLimiter:
    """Buckets in this process; the least recently seen identities are evicted beyond the bound."""

    def __init__(
        self,
        *,
        rate_per_second: float,
        burst: int,
        max_identities: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check(rate_per_second, burst)
        if max_identities < 1:
            raise ValueError(f"max_identities must be at least 1, got {max_identities}")
        self._rate = rate_per_second
        self._burst = burst
        self._max_identities = max_identities
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    async def hit(self, identity: str) -> RateDecision:
        """Take one token from the identity's bucket if one is there."""
        now = self._clock()
        bucket = self._buckets.get(identity)
        if bucket is None:
            bucket = _Bucket(tokens=float(self._burst), updated=now)
            self._buckets[identity] = bucket
            # Evicting a bucket forgets its debt, which only ever errs towards allowing.
            while len(self._buckets) > self._max_identities:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(identity)
            # max() guards against a clock that steps backwards.
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self._burst), bucket.tokens + elapsed * self._rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return RateDecision(True, self._burst, int(bucket.tokens), 0.0)
        retry = (1.0 - bucket.tokens) / self._rate
        return RateDecision(False, self._burst, 0, retry)

    async def aclose(self) -> None:
        self._buckets.clear()


_MAX_TTL_MS = 7 * 24 * 3600 * 1000


class RedisRateLimiter:
    """Buckets in Redis, updated by one atomic script, so every replica enforces one limit."""

    def __init__(
        self,
        redis: redis_asyncio.Redis,
        *,
        rate_per_second: float,
        burst: int,
        key_prefix: str = "corral:rl:",
    ) -> None:
        _check(rate_per_second, burst)
        self._redis = redis
        self._rate = rate_per_second
        self._burst = burst
        self._key_prefix = key_prefix
        # An idle bucket is full again after burst/rate seconds, and a full bucket is the same as
        # no key at all, so the key may expire then; the cap only keeps absurdly slow rates from
        # overflowing the expiry, and errs towards allowing.
        self._ttl_ms = min(math.ceil(burst / rate_per_second * 1000) + 1, _MAX_TTL_MS)
        self._script = redis.register_script(REDIS_BUCKET_SCRIPT)

    async def hit(self, identity: str) -> RateDecision:
        """Take one token from the identity's shared bucket if one is there."""
        result = await self._script(
            keys=[self._key_prefix + identity],
            args=[self._rate, self._burst, self._ttl_ms],
        )
        allowed, remaining, retry = result
        return RateDecision(
            allowed=int(allowed) == 1,
            limit=self._burst,
            remaining=int(remaining),
            retry_after_seconds=float(retry),
        )

    async def aclose(self) -> None:
        """Nothing to release: the Redis client belongs to the caller."""

"""Token buckets: in process with an injected clock, and shared by two replicas through Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio

from corral.core.ratelimit import MemoryRateLimiter, RateDecision, RedisRateLimiter
from tests.services import redis_url


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_bucket_allows_burst_then_refuses() -> None:
    limiter = MemoryRateLimiter(rate_per_second=1.0, burst=3, clock=FakeClock())
    decisions = [await limiter.hit("alice") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert all(d.limit == 3 for d in decisions)
    assert decisions[0].retry_after_seconds == 0
    assert decisions[3].retry_after_seconds == pytest.approx(1.0)
    await limiter.aclose()


async def test_memory_bucket_refills_with_the_clock_up_to_burst() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(rate_per_second=2.0, burst=2, clock=clock)
    assert (await limiter.hit("a")).allowed
    assert (await limiter.hit("a")).allowed
    refused = await limiter.hit("a")
    assert not refused.allowed
    assert refused.retry_after_seconds == pytest.approx(0.5)

    clock.now += 0.25
    half = await limiter.hit("a")
    assert not half.allowed
    assert half.retry_after_seconds == pytest.approx(0.25)

    clock.now += 0.25
    assert await limiter.hit("a") == RateDecision(True, 2, 0, 0.0)

    clock.now += 3600
    assert [(await limiter.hit("a")).allowed for _ in range(3)] == [True, True, False]


async def test_memory_buckets_are_per_identity() -> None:
    limiter = MemoryRateLimiter(rate_per_second=0.001, burst=1, clock=FakeClock())
    assert (await limiter.hit("a")).allowed
    assert not (await limiter.hit("a")).allowed
    assert (await limiter.hit("b")).allowed


async def test_memory_limiter_evicts_least_recently_used_identities() -> None:
    limiter = MemoryRateLimiter(rate_per_second=0.001, burst=1, max_identities=3, clock=FakeClock())
    for identity in ("a", "b", "c"):
        await limiter.hit(identity)
    await limiter.hit("a")
    await limiter.hit("d")
    assert len(limiter) == 3
    # "b" was the least recently used, so its exhausted bucket was forgotten; "a" was kept.
    assert (await limiter.hit("b")).allowed
    assert not (await limiter.hit("a")).allowed
    for i in range(100):
        await limiter.hit(f"x{i}")
    assert len(limiter) == 3


def test_limiters_refuse_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="rate_per_second"):
        MemoryRateLimiter(rate_per_second=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        MemoryRateLimiter(rate_per_second=1, burst=0)
    with pytest.raises(ValueError, match="max_identities"):
        MemoryRateLimiter(rate_per_second=1, burst=1, max_identities=0)


@pytest.fixture
async def redis_pair() -> AsyncIterator[tuple[redis_asyncio.Redis, redis_asyncio.Redis, str]]:
    """Two clients, as two replicas would hold, and a key prefix no other test uses."""
    url = redis_url()
    first = redis_asyncio.Redis.from_url(url)
    second = redis_asyncio.Redis.from_url(url, decode_responses=True)
    prefix = f"corral-test:rl:{uuid.uuid4().hex}:"
    try:
        yield first, second, prefix
    finally:
        keys = [key async for key in first.scan_iter(match=prefix + "*")]
        if keys:
            await first.delete(*keys)
        await first.aclose()
        await second.aclose()


@pytest.mark.redis
async def test_two_replicas_share_one_bucket(
    redis_pair: tuple[redis_asyncio.Redis, redis_asyncio.Redis, str],
) -> None:
    first, second, prefix = redis_pair
    a = RedisRateLimiter(first, rate_per_second=0.0001, burst=5, key_prefix=prefix)
    b = RedisRateLimiter(second, rate_per_second=0.0001, burst=5, key_prefix=prefix)
    decisions = await asyncio.gather(*(limiter.hit("alice") for limiter in (a, b) * 6))
    assert sum(d.allowed for d in decisions) == 5
    assert sorted(d.remaining for d in decisions if d.allowed) == [0, 1, 2, 3, 4]
    refused = [d for d in decisions if not d.allowed]
    assert all(d.remaining == 0 and d.retry_after_seconds > 0 for d in refused)
    assert all(d.limit == 5 for d in decisions)
    assert (await b.hit("bob")).allowed

    await a.aclose()
    await b.aclose()
    # The clients belong to the caller and must still work.
    assert await first.ping()
    assert await second.ping()


@pytest.mark.redis
async def test_redis_bucket_refills(
    redis_pair: tuple[redis_asyncio.Redis, redis_asyncio.Redis, str],
) -> None:
    first, _, prefix = redis_pair
    limiter = RedisRateLimiter(first, rate_per_second=50.0, burst=1, key_prefix=prefix)
    assert (await limiter.hit("a")).allowed
    refused = await limiter.hit("a")
    assert not refused.allowed
    assert 0 < refused.retry_after_seconds <= 0.02
    for _ in range(500):
        await asyncio.sleep(refused.retry_after_seconds)
        if (await limiter.hit("a")).allowed:
            break
    else:
        pytest.fail("the Redis bucket never refilled")


@pytest.mark.redis
async def test_redis_bucket_keys_expire_when_idle(
    redis_pair: tuple[redis_asyncio.Redis, redis_asyncio.Redis, str],
) -> None:
    first, _, prefix = redis_pair
    slow = RedisRateLimiter(first, rate_per_second=0.01, burst=5, key_prefix=prefix)
    await slow.hit("slow")
    ttl = await first.pttl(prefix + "slow")
    assert 0 < ttl <= 500_001

    fast = RedisRateLimiter(first, rate_per_second=100.0, burst=2, key_prefix=prefix)
    await fast.hit("fast")
    for _ in range(500):
        if not await first.exists(prefix + "fast"):
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the idle bucket key never expired")

"""Approval wake-ups: in-process at once, and across processes through Redis pub/sub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio

from corral.governance.approvals.signals import ApprovalSignals
from tests.services import redis_url


@pytest.fixture
async def redis() -> AsyncIterator[redis_asyncio.Redis]:
    client = redis_asyncio.Redis.from_url(redis_url())
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_resolution_wakes_a_waiter_in_the_same_process() -> None:
    signals = ApprovalSignals()
    waiter = asyncio.create_task(signals.wait("apr_1", 30))
    while not waiter.done():
        await signals.resolved(["apr_1"])
        await asyncio.wait({waiter}, timeout=0.1)
    assert waiter.exception() is None


async def test_a_resolution_on_one_replica_wakes_a_waiter_on_another(
    redis: redis_asyncio.Redis,
) -> None:
    deciding, waiting = ApprovalSignals(redis), ApprovalSignals(redis)
    try:
        waiter = asyncio.create_task(waiting.wait("apr_2", 30))
        # Until the waiter has subscribed a publish may go unheard: publish until it wakes.
        while not waiter.done():
            await deciding.resolved(["apr_2"])
            await asyncio.wait({waiter}, timeout=0.2)
        assert waiter.exception() is None
        # Woken (a waiter that timed out would still be registered), not timed out.
        assert "apr_2" not in waiting._waiters
    finally:
        await deciding.aclose()
        await waiting.aclose()

"""Leader locks against real PostgreSQL, Redis and flock, including across processes."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from corral.core.leader import (
    FileLeaderLock,
    PostgresLeaderLock,
    RedisLeaderLock,
    advisory_key,
    build_leader_lock,
)
from tests.services import postgres_url, redis_url

_HOLD_FLOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("busy", flush=True)
    sys.exit(0)
print("locked", flush=True)
sys.stdin.read()
"""


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@pytest.fixture
async def engines() -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two engines, as two replicas would hold."""
    url = postgres_url().replace("postgresql://", "postgresql+psycopg://", 1)
    first, second = create_async_engine(url), create_async_engine(url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


@pytest.fixture
async def redis_clients() -> AsyncIterator[tuple[redis_asyncio.Redis, redis_asyncio.Redis, str]]:
    """Two clients, as two replicas would hold, and a key prefix no other test uses."""
    url = redis_url()
    first = redis_asyncio.Redis.from_url(url)
    second = redis_asyncio.Redis.from_url(url)
    prefix = f"corral-test:leader:{uuid.uuid4().hex}:"
    try:
        yield first, second, prefix
    finally:
        keys = [key async for key in first.scan_iter(match=prefix + "*")]
        if keys:
            await first.delete(*keys)
        await first.aclose()
        await second.aclose()


@pytest.mark.postgres
async def test_postgres_lock_is_exclusive_and_handed_over_on_release(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    name = _unique("pg")
    a, b = PostgresLeaderLock(engines[0], name), PostgresLeaderLock(engines[1], name)
    assert await a.try_acquire()
    assert not await b.try_acquire()
    assert await a.try_acquire(), "renewing a held lock keeps it"
    assert not await b.try_acquire()

    await a.release()
    await a.release()
    assert await b.try_acquire()
    assert not await a.try_acquire()
    await b.release()
    await a.release()


@pytest.mark.postgres
async def test_postgres_leadership_is_lost_with_the_connection(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    name = _unique("pg")
    a, b = PostgresLeaderLock(engines[0], name), PostgresLeaderLock(engines[1], name)
    try:
        assert await a.try_acquire()
        async with engines[1].connect() as admin:
            killed = await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND granted AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": advisory_key(name)},
            )
            assert killed.scalars().all() == [True]
        # The terminated backend lets go of the lock once it has exited, a moment later.
        for _ in range(500):
            if await b.try_acquire():
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the dead leader's lock was never freed")
        assert not await a.try_acquire(), "a reconnects but the lock is b's now"
    finally:
        await a.release()
        await b.release()


def test_advisory_key_is_stable_and_fits_a_bigint() -> None:
    assert advisory_key("session_cleanup") == advisory_key("session_cleanup")
    assert advisory_key("session_cleanup") != advisory_key("idempotency_cleanup")
    assert all(0 <= advisory_key(str(i)) < 2**63 for i in range(1000))


@pytest.mark.redis
async def test_redis_lock_is_exclusive_and_handed_over_on_release(
    redis_clients: tuple[redis_asyncio.Redis, redis_asyncio.Redis, str],
) -> None:
    first, second, prefix = redis_clients
    a = RedisLeaderLock(first, "job", lease_seconds=30, key_prefix=prefix)
    b = RedisLeaderLock(second, "job", lease_seconds=30, key_prefix=prefix)
    assert await a.try_acquire()
    assert not await b.try_acquire()
    assert await a.try_acquire()
    await a.release()
    await a.release()
    assert await b.try_acquire()
    assert not await a.try_acquire()
    await b.release()
    assert not await first.exists(prefix + "job")


@pytest.mark.redis
async def test_redis_renewal_extends_the_lease(
    redis_clients: tuple[redis_asyncio.Redis, redis_asyncio.Redis, str],
) -> None:
    first, second, prefix = redis_clients
    a = RedisLeaderLock(first, "job", lease_seconds=0.5, key_prefix=prefix)
    b = RedisLeaderLock(second, "job", lease_seconds=0.5, key_prefix=prefix)
    assert await a.try_acquire()
    token = await first.get(prefix + "job")
    for _ in range(3):
        for _ in range(500):
            if await first.pttl(prefix + "job") < 250:
                break
            await asyncio.sleep(0.01)
        assert await a.try_acquire()
        assert await first.pttl(prefix + "job") > 250
        assert await first.get(prefix + "job") == token, "renewed, not re-acquired"
        assert not await b.try_acquire()
    await a.release()


@pytest.mark.redis
async def test_redis_lease_expiry_hands_over_and_stale_leader_cannot_release(
    redis_clients: tuple[redis_asyncio.Redis, redis_asyncio.Redis, str],
) -> None:
    first, second, prefix = redis_clients
    a = RedisLeaderLock(first, "job", lease_seconds=0.2, key_prefix=prefix)
    b = RedisLeaderLock(second, "job", lease_seconds=30, key_prefix=prefix)
    assert await a.try_acquire()
    for _ in range(500):
        if await b.try_acquire():
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the lapsed lease was never handed over")
    # a still believes it leads; neither its release nor its renewal may touch b's lock.
    await a.release()
    assert await first.exists(prefix + "job")
    assert not await a.try_acquire()
    assert await b.try_acquire()
    await b.release()


async def test_file_lock_is_exclusive_within_a_process(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "leader.lock"
    a, b = FileLeaderLock(path, "job"), FileLeaderLock(path, "job")
    assert await a.try_acquire()
    assert await a.try_acquire()
    assert not await b.try_acquire()
    await a.release()
    await a.release()
    assert await b.try_acquire()
    assert not await a.try_acquire()
    await b.release()


async def _spawn_holder(path: Path) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _HOLD_FLOCK,
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
    return process, line.decode().strip()


async def _finish(process: asyncio.subprocess.Process) -> None:
    assert process.stdin is not None
    process.stdin.close()
    await asyncio.wait_for(process.wait(), timeout=30)


async def test_file_lock_is_exclusive_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "leader.lock"
    lock = FileLeaderLock(path, "job")

    holder, said = await _spawn_holder(path)
    try:
        assert said == "locked"
        assert not await lock.try_acquire()
    finally:
        await _finish(holder)
    assert await lock.try_acquire()

    refused, said = await _spawn_holder(path)
    await _finish(refused)
    assert said == "busy"
    await lock.release()


async def test_build_leader_lock_picks_the_backend(tmp_path: Path) -> None:
    sqlite = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}")
    postgres = create_async_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    client = redis_asyncio.Redis.from_url("redis://127.0.0.1:1/0")
    try:
        file_lock = build_leader_lock(
            "job", engine=sqlite, redis=None, data_dir=tmp_path, lease_seconds=15
        )
        assert isinstance(file_lock, FileLeaderLock)
        assert file_lock.path == tmp_path / "leader-job.lock"
        assert file_lock.name == "job"
        pg_lock = build_leader_lock(
            "job", engine=postgres, redis=None, data_dir=tmp_path, lease_seconds=15
        )
        assert isinstance(pg_lock, PostgresLeaderLock)
        redis_lock = build_leader_lock(
            "job", engine=postgres, redis=client, data_dir=tmp_path, lease_seconds=15
        )
        assert isinstance(redis_lock, RedisLeaderLock)
        with pytest.raises(ValueError, match="unusable"):
            build_leader_lock(
                "../x", engine=sqlite, redis=None, data_dir=tmp_path, lease_seconds=15
            )
    finally:
        await client.aclose()
        await sqlite.dispose()
        await postgres.dispose()

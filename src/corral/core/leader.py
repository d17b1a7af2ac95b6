"""Leader election, so that a periodic job runs on one replica at a time.

Three backends behind one small protocol: a Redis lease (tier 2+), a PostgreSQL session advisory
lock (tier 1), and an flock on a file under the data directory (the embedded tier, one machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import secrets
from pathlib import Path
from typing import Protocol

import redis.asyncio as redis_asyncio
import structlog
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_log = structlog.get_logger(__name__)


class LeaderLock(Protocol):
    name: str

    async def try_acquire(self) -> bool:
        """Acquire, or renew if already held; True while we hold it."""
        ...

    async def release(self) -> None:
        """Give the lock up if held; idempotent."""
        ...


def advisory_key(name: str) -> int:
    """The PostgreSQL advisory lock key of a lock name: a stable, non-negative 63-bit hash."""
    digest = hashlib.sha256(b"corral:leader:" + name.encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
_PING = text("SELECT 1")


class PostgresLeaderLock:
    """A session advisory lock held on a dedicated connection for as long as we lead."""

    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self.name = name
        self._engine = engine
        self._key = advisory_key(name)
        self._conn: AsyncConnection | None = None
        self._mutex = asyncio.Lock()

    async def try_acquire(self) -> bool:
        async with self._mutex:
            if self._conn is not None:
                if await self._alive(self._conn):
                    return True
                _log.warning("leader.connection_lost", lock=self.name)
                await self._discard(invalidate=True)
            # Stored before any further await so that a cancellation cannot leak it.
            self._conn = conn = await self._engine.connect()
            try:
                result = await conn.execute(_TRY_LOCK, {"key": self._key})
                acquired = bool(result.scalar_one())
                # Session advisory locks outlive the transaction; ending it avoids idling in one.
                await conn.commit()
            except BaseException:
                await self._discard(invalidate=True)
                raise
            if not acquired:
                await self._discard(invalidate=False)
            return acquired

    async def release(self) -> None:
        async with self._mutex:
            conn = self._conn
            if conn is None:
                return
            try:
                await conn.execute(_UNLOCK, {"key": self._key})
                await conn.commit()
            except SQLAlchemyError:
                # A connection that may still hold the lock must never go back to the pool.
                await self._discard(invalidate=True)
            else:
                await self._discard(invalidate=False)

    @staticmethod
    async def _alive(conn: AsyncConnection) -> bool:
        try:
            await conn.execute(_PING)
            await conn.commit()
        except (SQLAlchemyError, OSError):
            return False
        return True

    async def _discard(self, *, invalidate: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(SQLAlchemyError, OSError):
            if invalidate:
                await conn.invalidate()
            await conn.close()


# Both scripts compare the stored token first, so a replica whose lease lapsed and was taken over
# can neither extend nor delete the new leader's lock.
_RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLeaderLock:
    """A lease in Redis holding a random token of ours, renewed on each acquire while held."""

    def __init__(
        self,
        redis: redis_asyncio.Redis,
        name: str,
        *,
        lease_seconds: float,
        key_prefix: str = "corral:leader:",
    ) -> None:
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
        self.name = name
        self._redis = redis
        self._key = key_prefix + name
        self._token = secrets.token_hex(16)
        self._lease_ms = max(1, round(lease_seconds * 1000))
        self._held = False
        self._renew = redis.register_script(_RENEW_SCRIPT)
        self._release = redis.register_script(_RELEASE_SCRIPT)

    async def try_acquire(self) -> bool:
        if self._held:
            renewed = await self._renew(keys=[self._key], args=[self._token, self._lease_ms])
            if int(renewed) == 1:
                return True
            self._held = False
            _log.warning("leader.lease_lost", lock=self.name)
        acquired = await self._redis.set(self._key, self._token, nx=True, px=self._lease_ms)
        self._held = bool(acquired)
        return self._held

    async def release(self) -> None:
        if not self._held:
            return
        self._held = False
        await self._release(keys=[self._key], args=[self._token])


class FileLeaderLock:
    """An exclusive flock on a file, held while we lead; exclusive across processes on a host."""

    def __init__(self, path: Path, name: str) -> None:
        self.name = name
        self.path = path
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        # LOCK_NB keeps these calls short enough to make inline on the event loop.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        # The file stays: unlinking it would let a waiter lock an inode nobody else can see.
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def build_leader_lock(
    name: str,
    *,
    engine: AsyncEngine,
    redis: redis_asyncio.Redis | None,
    data_dir: Path,
    lease_seconds: float,
) -> LeaderLock:
    """The lock for the deployment's tier: Redis, else PostgreSQL, else a file in the data dir."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"unusable leader lock name {name!r}")
    if redis is not None:
        return RedisLeaderLock(redis, name, lease_seconds=lease_seconds)
    if engine.dialect.name == "postgresql":
        return PostgresLeaderLock(engine, name)
    return FileLeaderLock(data_dir / f"leader-{name}.lock", name)

"""Following a run: long-polling to its end, and its events as a resumable stream.

Waits never hold a database connection: each check is its own short read, woken at once by
in-process signals (embedded tier) or after a short poll (a worker in another process).
The stored log is the source: a stream resumed with `Last-Event-ID` replays what it missed from
the database, never only the live tail.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.runs import events
from corral.runs.models import TERMINAL_STATUSES, Run
from corral.runs.signals import RunSignals

MAX_WAIT_SECONDS = 60.0
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class Watched:
    """Which run, as already authorized by the caller's scope."""

    run_id: str
    application_id: str


async def _load(sessions: async_sessionmaker[AsyncSession], watched: Watched) -> Run | None:
    async with sessions() as session:
        run: Run | None = await session.scalar(
            select(Run).where(
                Run.id == watched.run_id, Run.application_id == watched.application_id
            )
        )
        return run


async def wait_until_ended(
    sessions: async_sessionmaker[AsyncSession],
    signals: RunSignals,
    watched: Watched,
    seconds: float,
) -> Run | None:
    """The run once it has ended, or as it is when `seconds` have passed."""
    deadline = time.monotonic() + min(seconds, MAX_WAIT_SECONDS)
    while True:
        run = await _load(sessions, watched)
        remaining = deadline - time.monotonic()
        if run is None or run.status in TERMINAL_STATUSES or remaining <= 0:
            return run
        await signals.wait_changed(watched.run_id, min(POLL_SECONDS, remaining))


def _frame(seq: int, kind: str, data: object) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind.encode(), orjson.dumps(data))


async def stream(
    sessions: async_sessionmaker[AsyncSession],
    signals: RunSignals,
    watched: Watched,
    *,
    after: int,
) -> AsyncIterator[bytes]:
    """Server-sent events: every event after `after`, live until the run has ended."""
    yield b"retry: 1000\n\n"
    last_sent = time.monotonic()
    while True:
        async with sessions() as session:
            run = await session.scalar(
                select(Run).where(
                    Run.id == watched.run_id, Run.application_id == watched.application_id
                )
            )
            if run is None:
                return
            ended = run.status in TERMINAL_STATUSES
            batch = await events.page(session, watched.run_id, after=after, limit=events.MAX_PAGE)
        for event in batch:
            payload = {"seq": event.seq, "at": event.at.isoformat(), "data": event.data}
            yield _frame(event.seq, event.kind, payload)
            after = event.seq
            last_sent = time.monotonic()
        if len(batch) == events.MAX_PAGE:
            continue
        if ended:
            # Events are written before the status that ends the run: nothing follows this read.
            yield b"event: end\ndata: {}\n\n"
            return
        if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield b": keepalive\n\n"
            last_sent = time.monotonic()
        await signals.wait_changed(watched.run_id, POLL_SECONDS)

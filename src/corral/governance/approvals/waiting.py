"""Waiting for an approval's answer without holding a database connection.

Each check is its own short read; between checks the waiter sleeps on `ApprovalSignals`, woken
at once by a decision in this process (or through Redis from another), else after `poll_seconds`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.clock import as_utc, utcnow
from corral.governance.approvals.models import PENDING, Approval
from corral.governance.approvals.signals import ApprovalSignals

MAX_WAIT_SECONDS = 60.0
# Long-polls recheck this often without a signal; hosted runs poll more slowly (see the gate).
POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Watched:
    """Which approval, as already authorized by the caller's scope."""

    approval_id: str
    application_id: str


async def load(sessions: async_sessionmaker[AsyncSession], watched: Watched) -> Approval | None:
    async with sessions() as session:
        approval: Approval | None = await session.scalar(
            select(Approval).where(
                Approval.id == watched.approval_id,
                Approval.application_id == watched.application_id,
            )
        )
        return approval


async def wait_until_resolved(
    sessions: async_sessionmaker[AsyncSession],
    signals: ApprovalSignals,
    watched: Watched,
    seconds: float,
    *,
    poll_seconds: float = POLL_SECONDS,
) -> Approval | None:
    """The approval once resolved or expired, or as it is when `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        approval = await load(sessions, watched)
        remaining = deadline - time.monotonic()
        if approval is None or approval.status != PENDING or remaining <= 0:
            return approval
        until_expiry = (as_utc(approval.expires_at) - utcnow()).total_seconds()
        if until_expiry <= 0:
            return approval
        await signals.wait(approval.id, min(poll_seconds, remaining, until_expiry))

"""Reserve before a hosted model call, settle after: concurrent calls cannot overspend.

`reserve` locks every budget that covers the call (`SELECT … FOR UPDATE` in id order on
PostgreSQL, so two calls never deadlock; SQLite has one writer at a time) and, for each, checks
that what is used and held in the window leaves room for the estimate, then holds it in the
window's bucket. `settle` replaces the hold with the real amount; an unsettled hold (a crashed
run) expires and is released by the budget monitor. The overspend is therefore bounded by how
far real costs exceed their estimates, never by concurrency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.core.clock import utcnow
from corral.core.db import READ_ONLY, transaction
from corral.core.ids import new_id
from corral.governance.budgets.headroom import BudgetExceeded
from corral.governance.budgets.models import Budget, BudgetBucket, BudgetReservation
from corral.governance.budgets.usage import ZERO, covering, usage_of
from corral.governance.halts.matching import Subject

# Longer than a model call can take (the gateway's read timeout is 300 s per chunk).
RESERVATION_TTL = timedelta(minutes=15)
SWEEP_BATCH = 500


@dataclass(frozen=True, slots=True)
class Hold:
    budget_id: str
    reservation_id: str
    bucket_start: datetime
    amount: Decimal
    metric: str


@dataclass(frozen=True, slots=True)
class Reservation:
    holds: tuple[Hold, ...]


async def _bucket(session: AsyncSession, budget_id: str, start: datetime) -> BudgetBucket:
    bucket = await session.get(BudgetBucket, (budget_id, start), with_for_update=True)
    if bucket is None:
        bucket = BudgetBucket(budget_id=budget_id, bucket_start=start, reserved=ZERO, spent=ZERO)
        session.add(bucket)
        await session.flush()
    return bucket


async def covering_ids(
    sessions: async_sessionmaker[AsyncSession], application_id: str, subject: Subject
) -> list[str]:
    async with sessions() as session, session.begin():
        await session.connection(execution_options={READ_ONLY: True})
        return [b.id for b in await covering(session, application_id, subject)]


async def reserve(
    sessions: async_sessionmaker[AsyncSession],
    application_id: str,
    subject: Subject,
    estimate_usd: Decimal,
    *,
    now: datetime | None = None,
) -> Reservation | None:
    """Hold the estimate in every covering budget, or raise `BudgetExceeded` holding nothing.

    None when no budget covers the call (no write is made then)."""
    ids = await covering_ids(sessions, application_id, subject)
    if not ids:
        return None
    moment = now or utcnow()
    holds: list[Hold] = []
    async with transaction(sessions) as session:
        # Only the budgets this call draws on are locked, always in id order.
        locked = await session.scalars(
            select(Budget)
            .where(Budget.id.in_(ids), Budget.enabled.is_(True))
            .order_by(Budget.id)
            .with_for_update()
        )
        for budget in locked.all():
            holds.append(await _hold(session, budget, estimate_usd, subject.run_id, moment))
    return Reservation(tuple(holds)) if holds else None


async def _hold(
    session: AsyncSession, budget: Budget, estimate_usd: Decimal, run_id: str | None, now: datetime
) -> Hold:
    amount = estimate_usd if budget.metric == "spend_usd" else Decimal(1)
    usage = await usage_of(session, budget, now)
    if usage.committed >= usage.limit or usage.committed + amount > usage.limit:
        raise BudgetExceeded(budget, usage)
    bucket = await _bucket(session, budget.id, usage.window.bucket)
    bucket.reserved = Decimal(bucket.reserved) + amount
    reservation = BudgetReservation(
        id=new_id("brs"),
        budget_id=budget.id,
        bucket_start=usage.window.bucket,
        amount=amount,
        run_id=run_id,
        expires_at=now + RESERVATION_TTL,
        created_at=now,
    )
    session.add(reservation)
    return Hold(budget.id, reservation.id, usage.window.bucket, amount, budget.metric)


async def settle(
    sessions: async_sessionmaker[AsyncSession],
    reservation: Reservation,
    cost_usd: Decimal | None,
    *,
    called: bool,
) -> None:
    """Replace each hold by the real amount: the cost (spend) or one call, or nothing when the
    provider was never reached."""
    async with transaction(sessions) as session:
        for hold in sorted(reservation.holds, key=lambda h: h.budget_id):
            if not called:
                actual = ZERO
            elif hold.metric == "spend_usd":
                actual = cost_usd if cost_usd is not None else hold.amount
            else:
                actual = Decimal(1)
            removed = await session.execute(
                delete(BudgetReservation).where(BudgetReservation.id == hold.reservation_id)
            )
            # Released already by the sweep when it expired: only the real amount is left.
            held = hold.amount if getattr(removed, "rowcount", 0) == 1 else ZERO
            await session.execute(
                update(BudgetBucket)
                .where(
                    BudgetBucket.budget_id == hold.budget_id,
                    BudgetBucket.bucket_start == hold.bucket_start,
                )
                .values(reserved=BudgetBucket.reserved - held, spent=BudgetBucket.spent + actual)
                .execution_options(synchronize_session=False)
            )


async def release_expired(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Release holds past their expiry (their calls never settled: a crashed run)."""
    async with transaction(sessions) as session:
        expired: Sequence[BudgetReservation] = (
            await session.scalars(
                select(BudgetReservation)
                .where(BudgetReservation.expires_at < now)
                .order_by(BudgetReservation.budget_id)
                .limit(SWEEP_BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in expired:
            await session.execute(
                update(BudgetBucket)
                .where(
                    BudgetBucket.budget_id == row.budget_id,
                    BudgetBucket.bucket_start == row.bucket_start,
                )
                .values(reserved=BudgetBucket.reserved - row.amount)
                .execution_options(synchronize_session=False)
            )
            await session.delete(row)
    return len(expired)


async def release_for_run(session: AsyncSession, run_id: str) -> int:
    """Release the holds a run still has when it ends or loses its worker, in the caller's
    transaction: its sidecar is gone, so they would never settle and would block the budget
    until they expired. A settle arriving later adds only the real amount (see `settle`)."""
    held: Sequence[BudgetReservation] = (
        await session.scalars(
            select(BudgetReservation)
            .where(BudgetReservation.run_id == run_id)
            .order_by(BudgetReservation.budget_id)
        )
    ).all()
    if not held:
        return 0
    # The budgets first, in id order, as `reserve` locks them: the two never deadlock.
    await session.execute(
        select(Budget.id)
        .where(Budget.id.in_({row.budget_id for row in held}))
        .order_by(Budget.id)
        .with_for_update()
    )
    for row in held:
        await session.execute(
            update(BudgetBucket)
            .where(
                BudgetBucket.budget_id == row.budget_id,
                BudgetBucket.bucket_start == row.bucket_start,
            )
            .values(reserved=BudgetBucket.reserved - row.amount)
            .execution_options(synchronize_session=False)
        )
        await session.delete(row)
    return len(held)

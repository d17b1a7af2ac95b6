"""Daily range partitions of `spans` on PostgreSQL: created ahead, filled from the default, dropped.

The table is partitioned by `start_time` (UTC days, `spans_pYYYYMMDD`), with a default partition
`spans_default` catching spans outside every daily range (clock skew, backfills, or before the
first partition exists). Creating a day's partition moves that day's rows out of the default
partition in the same transaction, because PostgreSQL refuses a new partition whose range the
default partition still holds rows for.

DDL takes strong locks on `spans` for a moment; `lock_timeout` makes a busy table skip a tick
instead of queueing every ingest write behind the DDL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from corral.traces.models import DEFAULT_PARTITION

AHEAD_DAYS = 3
"""Days after today whose partitions exist before their first span arrives."""
MAX_CREATED_PER_TICK = 32
LOCK_TIMEOUT = "5s"
_NAME = re.compile(r"^spans_p(\d{8})$")


@dataclass(frozen=True, slots=True)
class DayPartition:
    day: date

    @property
    def name(self) -> str:
        return f"spans_p{self.day:%Y%m%d}"

    @property
    def lower(self) -> datetime:
        return datetime.combine(self.day, time(), UTC)

    @property
    def upper(self) -> datetime:
        return self.lower + timedelta(days=1)


async def day_partitions(conn: AsyncConnection) -> list[DayPartition]:
    """The daily partitions attached to `spans`, oldest first (other partitions are ignored)."""
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'spans'::regclass"
        )
    )
    days = []
    for (name,) in rows:
        match = _NAME.match(name)
        if match:
            days.append(datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).date())
    return [DayPartition(day) for day in sorted(days)]


async def ensure_partitions(
    engine: AsyncEngine, *, now: datetime, oldest_kept: datetime | None
) -> list[str]:
    """Create the partitions of yesterday to `AHEAD_DAYS` ahead, and of any kept day that only
    the default partition holds rows for; return the names created."""
    today = now.astimezone(UTC).date()
    horizon = today + timedelta(days=AHEAD_DAYS)
    async with engine.connect() as conn:
        existing = {p.day for p in await day_partitions(conn)}
        query = (
            "SELECT DISTINCT CAST(start_time AT TIME ZONE 'UTC' AS date) AS day "  # noqa: S608
            f"FROM {DEFAULT_PARTITION} WHERE start_time < :horizon"
        )
        params: dict[str, object] = {"horizon": datetime.combine(horizon, time(), UTC)}
        if oldest_kept is not None:
            query += " AND start_time >= :oldest"
            params["oldest"] = oldest_kept
        stranded = {row[0] for row in await conn.execute(text(query + " LIMIT 64"), params)}
    wanted = {today + timedelta(days=n) for n in range(-1, AHEAD_DAYS + 1)} | stranded
    created = []
    for day in sorted(wanted - existing)[:MAX_CREATED_PER_TICK]:
        partition = DayPartition(day)
        async with engine.begin() as conn:
            await _create(conn, partition)
        created.append(partition.name)
    return created


async def _create(conn: AsyncConnection, partition: DayPartition) -> None:
    name, lower, upper = partition.name, partition.lower, partition.upper
    bounds = {"lower": lower, "upper": upper}
    in_range = "start_time >= :lower AND start_time < :upper"
    await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    # Held from the start so that no span lands in the default's copy of this day meanwhile.
    await conn.execute(text(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE"))
    await conn.execute(text(f"CREATE TABLE {name} (LIKE spans INCLUDING DEFAULTS)"))
    await conn.execute(
        text(f"INSERT INTO {name} SELECT * FROM {DEFAULT_PARTITION} WHERE {in_range}"),  # noqa: S608
        bounds,
    )
    await conn.execute(text(f"DELETE FROM {DEFAULT_PARTITION} WHERE {in_range}"), bounds)  # noqa: S608
    # Partition bounds are literals in DDL; these are our own UTC midnights, never input.
    await conn.execute(
        text(
            f"ALTER TABLE spans ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
        )
    )


async def drop_partitions_before(engine: AsyncEngine, cutoff: datetime) -> list[str]:
    """Drop every daily partition whose whole day is older than `cutoff`; return their names."""
    async with engine.connect() as conn:
        old = [p for p in await day_partitions(conn) if p.upper <= cutoff]
    dropped = []
    for partition in old:
        async with engine.begin() as conn:
            await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            await conn.execute(text(f"DROP TABLE {partition.name}"))
        dropped.append(partition.name)
    return dropped

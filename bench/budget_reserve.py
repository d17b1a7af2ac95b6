"""Budget reservations under concurrency: reserve/settle pairs per second, and the overspend.

Every hosted model call reserves its estimated cost in the budgets that cover it before it is
forwarded, and settles the real cost after (`corral.governance.budgets.reservations`). This
drives that path directly (no HTTP, no provider) with N concurrent tasks on one budget:

- `throughput`: a budget too large to run out; each task loops reserve → settle for a fixed
  time. Prints pairs per second and the p50/p99 of one pair.
- `overspend`: a budget that runs out; every task keeps calling until refused. Real costs are
  drawn between half the estimate and the estimate. Prints how many calls fit, the settled
  total, and the overspend (settled beyond the limit), which must be 0.

    .venv/bin/python -m bench.budget_reserve                      # SQLite, the default tier
    .venv/bin/python -m bench.budget_reserve --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m bench.budget_reserve --concurrency 50 --seconds 5 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from sqlalchemy import delete

from bench.api_read_throughput import _machine
from corral.core.clock import utcnow
from corral.core.db import create_engine, create_sessionmaker, transaction
from corral.core.ids import new_id
from corral.core.migrations import upgrade_to_head
from corral.governance.budgets import reservations
from corral.governance.budgets.headroom import BudgetExceeded
from corral.governance.budgets.models import Budget
from corral.governance.budgets.usage import usage_of
from corral.governance.halts.matching import Subject
from corral.identity.models import Application, Organization

BENCH_DATABASE = "corral_bench_budget"
ESTIMATE = Decimal("0.0300")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Budget reserve/settle under concurrency.")
    parser.add_argument("--database-url", help="PostgreSQL admin URL (a scratch database is made)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--limit", type=Decimal, default=Decimal("20.00"))
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


@contextmanager
def _database(admin_url: str | None, scratch: Path) -> Iterator[tuple[str, str]]:
    if admin_url is None:
        yield f"sqlite+aiosqlite:///{scratch / 'corral.db'}", "SQLite (WAL, one writer)"
        return
    drop = f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
        version = conn.info.server_version
    parts = urlsplit(admin_url)
    url = urlunsplit(parts._replace(scheme="postgresql+psycopg", path=f"/{BENCH_DATABASE}"))
    try:
        yield url, f"PostgreSQL {version // 10000}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(drop)


async def _budget(sessions: Any, application_id: str, org_id: str, limit: Decimal) -> str:
    async with transaction(sessions) as session:
        budget = Budget(
            id=new_id("bgt"),
            org_id=org_id,
            application_id=application_id,
            name="bench",
            metric="spend_usd",
            limit_value=limit,
            window="1d",
            window_kind="fixed",
            scope="application",
            scope_value="",
            enabled=True,
            observed=Decimal(0),
        )
        session.add(budget)
    return budget.id


async def _run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    engine = create_engine(url)
    await upgrade_to_head(engine)
    sessions = create_sessionmaker(engine)
    org, app = new_id("org"), new_id("app")
    async with transaction(sessions) as session:
        session.add(Organization(id=org, name="bench"))
        await session.flush()
        session.add(Application(id=app, org_id=org, name="bench", is_default=True))
    subject = Subject(agent="bench")

    # Throughput: never runs out.
    await _budget(sessions, app, org, Decimal(10) ** 8)
    latencies: list[float] = []
    deadline = time.perf_counter() + args.seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            held = await reservations.reserve(sessions, app, subject, ESTIMATE)
            assert held is not None
            await reservations.settle(sessions, held, ESTIMATE / 2, called=True)
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    throughput = {
        "pairs": len(latencies),
        "pairs_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
    }
    async with transaction(sessions) as session:
        await session.execute(delete(Budget))

    # Overspend: runs out; each task calls until refused.
    budget_id = await _budget(sessions, app, org, args.limit)
    rng = random.Random(42)
    allowed = refused = 0

    async def spend() -> None:
        nonlocal allowed, refused
        while True:
            try:
                held = await reservations.reserve(sessions, app, subject, ESTIMATE)
            except BudgetExceeded:
                refused += 1
                return
            assert held is not None
            allowed += 1
            actual = (ESTIMATE * Decimal(rng.randint(50, 100)) / 100).quantize(Decimal("0.0001"))
            await reservations.settle(sessions, held, actual, called=True)

    await asyncio.gather(*(spend() for _ in range(args.concurrency)))
    async with sessions() as session:
        stored = await session.get(Budget, budget_id)
        assert stored is not None
        usage = await usage_of(session, stored, utcnow())
    await engine.dispose()
    return {
        "throughput": throughput,
        "overspend": {
            "limit": str(args.limit),
            "estimate": str(ESTIMATE),
            "calls_allowed": allowed,
            "calls_refused": refused,
            "settled": str(usage.used),
            "reserved_left": str(usage.reserved),
            "overspend": str(max(Decimal(0), usage.used - args.limit)),
        },
    }


def main() -> None:
    args = _parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="corral-bench-") as scratch,
        _database(args.database_url, Path(scratch)) as (url, label),
    ):
        result = asyncio.run(_run(args, url))
    report = {"machine": _machine(), "database": label, "concurrency": args.concurrency, **result}
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return
    t, o = report["throughput"], report["overspend"]
    print(f"database:    {label}; {args.concurrency} concurrent tasks, one budget")
    print(
        f"throughput:  {t['pairs_per_second']} reserve+settle pairs/s "
        f"(p50 {t['p50_ms']} ms, p99 {t['p99_ms']} ms, {t['pairs']} pairs)"
    )
    print(
        f"overspend:   limit {o['limit']}, {o['calls_allowed']} calls fit, "
        f"{o['calls_refused']} refused, settled {o['settled']}, overspend {o['overspend']}"
    )


if __name__ == "__main__":
    main()

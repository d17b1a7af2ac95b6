"""Audit chain: append rate (sequential and concurrent) and full-chain verification rate.

Each append is what a mutation pays: one transaction that records one event through
`corral.audit.service.record`, whose flush locks the chain head, numbers the event and signs it
(RFC 8785 + HMAC-SHA256). Concurrent appends all target one application's chain, the worst
case: they serialize on its head. Verification streams the whole chain back in batches and
recomputes every HMAC and link. `sign only` is the CPU part of an append (canonical JSON +
HMAC), without the database.

    .venv/bin/python -m bench.audit_chain
    .venv/bin/python -m bench.audit_chain --events 5000 --concurrency 16
    .venv/bin/python -m bench.audit_chain --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m bench.audit_chain --json

With `--database-url`, a database `corral_bench_audit` is created on that server and dropped at
the end. `CORRAL_BENCH_POSTGRES_URL` is read when the option is absent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import psycopg
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.audit import service as audit
from corral.audit.anchors import AnchorSigner, anchor_pending
from corral.audit.chain import AuditKeys, attach_keys, canonical_json, signed_fields
from corral.audit.models import AuditEvent
from corral.audit.verify import verify_chain
from corral.core.clock import utcnow
from corral.core.db import create_engine, create_sessionmaker, transaction
from corral.core.migrations import upgrade_to_head
from corral.core.request_context import Actor

APP = "app_00000000000000000000bench"
ORG = "org_00000000000000000000bench"
ACTOR = Actor("user", "usr_00000000000000000000bench", "req_bench", "203.0.113.9", "bench/1.0")
BENCH_DATABASE = "corral_bench_audit"
_EVENTS = cast(Table, AuditEvent.__table__)


@dataclass
class Result:
    database: str
    events_sequential: int
    events_concurrent: int
    concurrency: int
    unchained_insert_per_s: float
    append_sequential_per_s: float
    append_concurrent_per_s: float
    verify_events: int
    verify_per_s: float
    anchor_per_s: float
    verify_with_anchors_per_s: float
    sign_only_per_s: float
    machine: str


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _append_one(sessions: async_sessionmaker[AsyncSession], n: int) -> None:
    async with transaction(sessions) as session:
        audit.record(
            session,
            ACTOR,
            "policy.updated",
            target_type="policy",
            target_id=f"pol_{n}",
            org_id=ORG,
            application_id=APP,
            before={"name": "old", "priority": 1},
            after={"name": f"new {n}", "priority": 2},
        )


async def _append_unchained(sessions: async_sessionmaker[AsyncSession], n: int) -> None:
    """The same row in the same kind of transaction, inserted without the chain: the baseline."""
    async with transaction(sessions) as session:
        await session.execute(
            insert(_EVENTS).values(
                id=f"aud_base{n:022d}",
                chain_id="baseline",
                seq=n + 1,
                org_id=ORG,
                application_id=APP,
                actor_type="user",
                actor_id=ACTOR.id,
                action="policy.updated",
                target_type="policy",
                target_id=f"pol_{n}",
                outcome="success",
                details={},
                before={"name": "old", "priority": 1},
                after={"name": f"new {n}", "priority": 2},
                request_id=ACTOR.request_id,
                ip_address=ACTOR.ip_address,
                user_agent=ACTOR.user_agent,
                created_at=utcnow(),
                key_id="none",
                prev_hash="",
                row_hash="",
            )
        )


def _sign_only_rate(keys: AuditKeys, count: int) -> float:
    event = AuditEvent(
        id="aud_00000000000000000000000000",
        chain_id=APP,
        seq=1,
        org_id=ORG,
        application_id=APP,
        actor_type="user",
        actor_id=ACTOR.id,
        action="policy.updated",
        target_type="policy",
        target_id="pol_1",
        outcome="success",
        details={},
        before={"name": "old", "priority": 1},
        after={"name": "new", "priority": 2},
        request_id=ACTOR.request_id,
        ip_address=ACTOR.ip_address,
        user_agent=ACTOR.user_agent,
        created_at=utcnow(),
    )
    started = time.perf_counter()
    for _ in range(count):
        keys.row_hash(keys.active_id, canonical_json(signed_fields(event)), "0" * 64)
    return count / (time.perf_counter() - started)


async def bench(url: str, label: str, events: int, concurrency: int) -> Result:
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
        keys = AuditKeys([("bench", b"b" * 48)])
        attach_keys(engine, keys)
        sessions = create_sessionmaker(engine)

        say(f"[{label}] {events} unchained inserts of the same row (baseline)")
        started = time.perf_counter()
        for n in range(events):
            await _append_unchained(sessions, n)
        baseline = events / (time.perf_counter() - started)

        say(f"[{label}] {events} sequential appends (one transaction each)")
        started = time.perf_counter()
        for n in range(events):
            await _append_one(sessions, n)
        sequential = events / (time.perf_counter() - started)

        say(f"[{label}] {events} concurrent appends ({concurrency} writers, one chain)")
        queue = iter(range(events, 2 * events))

        async def writer() -> None:
            for n in queue:
                await _append_one(sessions, n)

        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(concurrency)))
        concurrent = events / (time.perf_counter() - started)

        say(f"[{label}] verifying the whole chain")
        async with sessions() as session:
            report = await verify_chain(session, keys, APP)
        if not report.ok:
            raise SystemExit(f"the chain does not verify: {report}")

        say(f"[{label}] sealing the chain under anchors, then verifying chain and anchors")
        signer = AnchorSigner(b"s" * 32)
        started = time.perf_counter()
        made = await anchor_pending(sessions, signer, max_events=10_000)
        anchoring = report.events_checked / (time.perf_counter() - started)
        async with sessions() as session:
            anchored = await verify_chain(session, keys, APP, anchor_key=signer.public_key)
        if not anchored.ok or anchored.anchors_checked != made:
            raise SystemExit(f"the anchored chain does not verify: {anchored}")
        return Result(
            database=label,
            events_sequential=events,
            events_concurrent=events,
            concurrency=concurrency,
            unchained_insert_per_s=round(baseline, 1),
            append_sequential_per_s=round(sequential, 1),
            append_concurrent_per_s=round(concurrent, 1),
            verify_events=report.events_checked,
            verify_per_s=round(report.events_per_second, 1),
            anchor_per_s=round(anchoring, 1),
            verify_with_anchors_per_s=round(anchored.events_per_second, 1),
            sign_only_per_s=round(_sign_only_rate(keys, 20_000), 1),
            machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}",
        )
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events per append phase")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent writers")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CORRAL_BENCH_POSTGRES_URL"),
        help="PostgreSQL server URL (libpq form); default: the embedded SQLite",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args()

    if args.database_url:
        admin = args.database_url
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
        base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        try:
            result = asyncio.run(
                bench(f"{base}/{BENCH_DATABASE}", "postgresql", args.events, args.concurrency)
            )
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
    else:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'corral.db'}"
            result = asyncio.run(bench(url, "sqlite", args.events, args.concurrency))

    if args.json:
        print(json.dumps(asdict(result), indent=2))
        return
    print(f"database:                 {result.database} ({result.machine})")
    print(f"unchained insert:         {result.unchained_insert_per_s:>10,.0f} rows/s (baseline)")
    print(f"append, sequential:       {result.append_sequential_per_s:>10,.0f} events/s")
    print(
        f"append, {result.concurrency} writers:      "
        f"{result.append_concurrent_per_s:>10,.0f} events/s (one chain)"
    )
    print(
        f"verify whole chain:       {result.verify_per_s:>10,.0f} events/s "
        f"({result.verify_events} events)"
    )
    print(f"anchor (seal) the chain:  {result.anchor_per_s:>10,.0f} events/s")
    print(f"verify chain + anchors:   {result.verify_with_anchors_per_s:>10,.0f} events/s")
    print(f"sign only (CPU):          {result.sign_only_per_s:>10,.0f} events/s")


if __name__ == "__main__":
    main()

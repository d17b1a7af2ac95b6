"""What checking halts costs on the hot paths: the server's cached check and the SDK's.

- `HaltCache.covering` (sidecar model and tool calls, `POST /api/decisions`): a hit is a
  dictionary lookup and a scan of the application's active halts; a miss (every 0.5 s per
  application and process) is one indexed query.
- The SDK's check before a guarded call: a scan of the active halts it last polled.

    .venv/bin/python -m bench.halt_check                      # SQLite
    .venv/bin/python -m bench.halt_check --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.budget_reserve import _database
from corral.core.db import create_engine, create_sessionmaker, transaction
from corral.core.ids import new_id
from corral.core.migrations import upgrade_to_head
from corral.governance.halts.cache import HaltCache
from corral.governance.halts.matching import Subject
from corral.governance.halts.models import Halt
from corral.identity.models import Application, Organization
from corral_sdk.halts import HaltRecord, covering

HALTS = 20
ROUNDS = 2000


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1e6
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1e6
    return f"p50 {p50:8.1f} µs   p99 {p99:8.1f} µs"


async def _server(url: str) -> None:
    engine = create_engine(url)
    await upgrade_to_head(engine)
    sessions = create_sessionmaker(engine)
    org, app = new_id("org"), new_id("app")
    async with transaction(sessions) as session:
        session.add(Organization(id=org, name="bench"))
        await session.flush()
        session.add(Application(id=app, org_id=org, name="bench", is_default=True))
        await session.flush()
        for index in range(HALTS):
            session.add(
                Halt(
                    org_id=org,
                    application_id=app,
                    scope="agent",
                    scope_value=f"agent-{index}",
                    state="halted",
                    reason="bench",
                    created_by="bench",
                )
            )
    cache = HaltCache(sessions, ttl_seconds=3600)
    subject = Subject(agent="free-agent", end_user="eu", model="m", run_id="run_x")
    hits: list[float] = []
    misses: list[float] = []
    await cache.covering(app, subject)
    for _ in range(ROUNDS):
        started = time.perf_counter()
        await cache.covering(app, subject)
        hits.append(time.perf_counter() - started)
    for _ in range(ROUNDS // 10):
        cache.invalidate(app)
        started = time.perf_counter()
        await cache.covering(app, subject)
        misses.append(time.perf_counter() - started)
    await engine.dispose()
    print(f"server cache hit  ({HALTS} active halts): {_percentiles(hits)}")
    print(f"server cache miss (one indexed query):   {_percentiles(misses)}")


def _sdk() -> None:
    halts = tuple(
        HaltRecord(f"hlt_{i}", "agent", f"agent-{i}", "halted", "bench") for i in range(HALTS)
    )
    check: Callable[[], object] = lambda: covering(halts, "free-agent", "eu", None)  # noqa: E731
    samples = []
    for _ in range(ROUNDS * 10):
        started = time.perf_counter()
        check()
        samples.append(time.perf_counter() - started)
    print(f"SDK check         ({HALTS} active halts): {_percentiles(samples)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="The cost of halt checks.")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="corral-bench-") as scratch,
        _database(args.database_url, Path(scratch)) as (url, label),
    ):
        print(f"database: {label}")
        asyncio.run(_server(url))
    _sdk()


if __name__ == "__main__":
    main()

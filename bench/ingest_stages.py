"""Where OTLP ingest time goes, stage by stage, in one process (no HTTP, no client).

Builds the app as `corral serve` does (dev seed, settings from a scratch environment), then runs
the bodies of `bench/otlp_payload.py` through each stage of `POST /v1/traces` and its writer:
protobuf decode, `build_rows` (normalize, sample, price, redact, clean) and the ingest sink
(spans, summaries, decision evidence), timing each. `--profile` adds a cProfile of the lot.

    .venv/bin/python -m bench.ingest_stages --database sqlite
    .venv/bin/python -m bench.ingest_stages --database postgres --bodies 100 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path

from bench.api_read_throughput import DEV_KEY
from bench.ingest import DEFAULT_POSTGRES, _database
from bench.otlp_payload import PayloadFactory
from corral.api.app import create_app
from corral.container import Container
from corral.core import secrets as server_secrets
from corral.core.settings import get_settings
from corral.telemetry.decode import decode_protobuf
from corral.traces.ingest import build_rows


async def _stages(args: argparse.Namespace, data_dir: Path, database_url: str | None) -> None:
    os.environ.update(server_secrets.generate_env())
    os.environ.update(
        CORRAL_ENV="development",
        CORRAL_DATA_DIR=str(data_dir),
        CORRAL_SEED_DEV="true",
        CORRAL_DEV_API_KEY=DEV_KEY,
        CORRAL_LOOPS_ENABLED="false",
    )
    if database_url is not None:
        os.environ["CORRAL_DATABASE_URL"] = database_url
    app = create_app(get_settings())
    async with app.router.lifespan_context(app):
        container: Container = app.state.container
        async with container.sessions() as session:
            application_id, org_id = (
                await session.execute(
                    __import__("sqlalchemy").text("SELECT id, org_id FROM applications LIMIT 1")
                )
            ).one()
            config = await container.ingest_config.get(session, application_id)
        factory = PayloadFactory(args.spans_per_request)
        bodies = [factory.body() for _ in range(args.bodies)]
        spans = args.bodies * args.spans_per_request
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        c0, t0 = time.process_time(), time.perf_counter()
        decoded = [decode_protobuf(body) for body in bodies]
        c1, t1 = time.process_time(), time.perf_counter()
        built = [
            build_rows(
                d.spans,
                org_id=org_id,
                application_id=application_id,
                config=config,
                catalog=container.price_catalog,
            )
            for d in decoded
        ]
        c2, t2 = time.process_time(), time.perf_counter()
        rows = [row for b in built for row in b.rows]
        sink = container.ingest._sink
        for start in range(0, len(rows), args.batch):
            await sink(rows[start : start + args.batch])
        c3, t3 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.disable()
        # Wall time includes waiting for the database; CPU time is this process's alone.
        for label, seconds, cpu in (
            ("decode", t1 - t0, c1 - c0),
            ("build_rows", t2 - t1, c2 - c1),
            (f"write (batches of {args.batch})", t3 - t2, c3 - c2),
            ("total", t3 - t0, c3 - c0),
        ):
            print(
                f"{label:<28} {seconds * 1e6 / spans:8.1f} µs/span wall "
                f"{cpu * 1e6 / spans:8.1f} µs/span CPU {spans / seconds:10.0f} spans/s"
            )
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


def main() -> None:
    parser = argparse.ArgumentParser(description="OTLP ingest, stage by stage.")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--bodies", type=int, default=50)
    parser.add_argument("--spans-per-request", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500, help="spans per writer batch")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    admin_url = args.postgres_url if args.database == "postgres" else None
    with tempfile.TemporaryDirectory(prefix="corral-bench-") as scratch:
        data_dir = Path(scratch)
        with _database(admin_url, data_dir) as (database_url, _):
            asyncio.run(_stages(args, data_dir, database_url))


if __name__ == "__main__":
    main()

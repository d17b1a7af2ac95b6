"""Sustained OTLP ingest: spans/s written into SQLite or PostgreSQL through `POST /v1/traces`.

Starts Corral in its own process(es) with `python -m corral.cli serve [--workers W]` (settings
from the environment the benchmark sets, as `bench/api_read_throughput.py` does: fresh scratch
directory, fresh secrets, dev seed, rate limiting on but never rejecting, background loops on),
creates an API key with only `traces:write`, and drives `POST /v1/traces` from separate client
processes with real protobuf `ExportTraceServiceRequest`s (`bench/otlp_payload.py`: GenAI model
and tool spans with about 1 KB of attributes each, one in 20 carrying secrets).

What counts is what is WRITTEN: rows in `spans` are counted at the start and at the end of the
measured window, so spans accepted (HTTP 200) but still queued do not count. Latency is per
request (p50/p99 of 200s); 503s (ingest queue full) are counted and retried after Retry-After,
as an exporter does. At the end the benchmark checks that no secret reached the database.

    .venv/bin/python -m bench.ingest --database sqlite
    .venv/bin/python -m bench.ingest --database postgres --workers 2
    .venv/bin/python -m bench.ingest --database postgres --seconds 20 --concurrency 8 \\
        --spans-per-request 100 --clients 1 --workers 2 --json

The PostgreSQL run creates the database `corral_bench` on `--postgres-url` and drops it after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
import psycopg

from bench.api_read_throughput import DEV_KEY, Server, _machine, _without_password
from bench.ingest_cpu import PostgresCpu, machine_busy, tree_cpu_seconds
from bench.otlp_payload import SECRETS, PayloadFactory, attribute_bytes

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
DRAIN_TIMEOUT_SECONDS = 120.0


@dataclass
class ClientResult:
    requests: int = 0
    spans_accepted: int = 0
    unavailable: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Sustained OTLP ingest into the database.")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="server to bench on")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured time first")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight, total")
    parser.add_argument("--spans-per-request", type=int, default=100)
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="record the server (all workers) with py-spy during the window, raw format",
    )
    args = parser.parse_args()
    if not 1 <= args.concurrency <= 512 or not 1 <= args.clients <= args.concurrency:
        parser.error("--concurrency must be in [1, 512] and --clients in [1, concurrency]")
    if not 1 <= args.spans_per_request <= 5000:
        parser.error("--spans-per-request must be in [1, 5000]")
    if not 0 < args.seconds <= 600 or not 0 <= args.warmup <= 120:
        parser.error("--seconds must be in (0, 600] and --warmup in [0, 120]")
    if not 1 <= args.workers <= 16:
        parser.error("--workers must be in [1, 16]")
    return args


@contextmanager
def _database(admin_url: str | None, data_dir: Path) -> Iterator[tuple[str | None, str]]:
    """SQLite in `data_dir`, or a fresh PostgreSQL database of this run, dropped afterwards.

    The name is per process: other benchmarks on the machine use `corral_bench`, and creating
    a database drops any older one of the same name, connections and all.
    """
    if admin_url is None:
        yield None, f"SQLite, the embedded default (WAL; file in {data_dir}, removed afterwards)"
        return
    name = f"corral_bench_ingest_{os.getpid()}"
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(f'CREATE DATABASE "{name}"')
        version = conn.info.server_version
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    try:
        yield (
            url,
            (
                f"PostgreSQL {version // 10000}.{version % 10000} "
                f"({_without_password(url)}, on this machine)"
            ),
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(drop)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class IngestServer(Server):
    """`corral serve --workers W` instead of the read benchmark's single uvicorn process."""

    def __init__(self, data_dir: Path, database_url: str | None, workers: int) -> None:
        super().__init__(data_dir, database_url, "asyncio")
        self.command = [
            sys.executable, "-m", "corral.cli", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
        ]  # fmt: skip

    def cpu_seconds(self) -> float | None:
        """CPU time of the server process and all its descendants (the workers)."""
        return tree_cpu_seconds(self.pid)


class SpanCounter:
    """Counts stored spans straight in the database, outside the server."""

    def __init__(self, database_url: str | None, data_dir: Path) -> None:
        self._postgres = database_url
        self._sqlite = data_dir / "corral.db"

    def query(self, sql: str) -> int:
        if self._postgres is not None:
            with psycopg.connect(self._postgres, autocommit=True) as conn:
                row = conn.execute(sql).fetchone()
        else:
            with sqlite3.connect(self._sqlite, timeout=30) as conn:
                row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])

    def spans(self) -> int:
        return self.query("SELECT count(*) FROM spans")

    def containing(self, text: str) -> int:
        column = "attributes::text" if self._postgres is not None else "attributes"
        # `text` is one of the benchmark's own constants, never input.
        return self.query(f"SELECT count(*) FROM spans WHERE {column} LIKE '%{text}%'")


async def _client_loop(
    base_url: str, key: str, spans_per_request: int, concurrency: int, window: tuple[float, float]
) -> ClientResult:
    measure_from, stop_at = window
    result = ClientResult()
    factory = PayloadFactory(spans_per_request, tenant=f"client-{os.getpid()}")
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {key}", **PROTOBUF}
    async with httpx2.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=60.0
    ) as client:

        async def worker() -> None:
            while (started := time.time()) < stop_at:
                body = factory.body()
                began = time.perf_counter()
                try:
                    response = await client.post("/v1/traces", content=body)
                    status = response.status_code
                except httpx2.HTTPError:
                    status = 0
                elapsed = time.perf_counter() - began
                measured = started >= measure_from
                if status == 200:
                    if measured:
                        result.requests += 1
                        result.spans_accepted += spans_per_request
                        result.latencies.append(elapsed)
                elif status == 503:
                    result.unavailable += measured
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                else:
                    result.errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result


def _client_process(
    base_url: str, key: str, spans_per_request: int, concurrency: int, window: tuple[float, float]
) -> ClientResult:
    began = time.process_time()
    result = asyncio.run(_client_loop(base_url, key, spans_per_request, concurrency, window))
    result.cpu_seconds = time.process_time() - began
    return result


def _start_py_spy(path: str, pid: int, seconds: float) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [
        str(py_spy), "record", "--pid", str(pid), "--subprocesses", "--format", "raw",
        "--gil", "--rate", "100", "--duration", str(max(1, int(seconds) - 1)), "--output", path,
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _create_key(base_url: str) -> str:
    with httpx2.Client(base_url=base_url, timeout=30.0) as client:
        response = client.post(
            "/api/api-keys",
            json={"name": "bench ingest", "scopes": ["traces:write"]},
            headers={"Authorization": f"Bearer {DEV_KEY}"},
        )
        if response.status_code != 201:
            raise RuntimeError(f"creating the API key failed: {response.text}")
        key: str = response.json()["key"]
        return key


def _wait_drained(counter: SpanCounter, accepted_total: int, before: int) -> int:
    """Wait until the spans count stops growing (the queues drained); return the final count."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    last = -1
    while time.monotonic() < deadline:
        now = counter.spans()
        if now == last or now - before >= accepted_total:
            return now
        last = now
        time.sleep(1.0)
    return counter.spans()


def _run(
    args: argparse.Namespace, server: IngestServer, counter: SpanCounter, postgres_cpu: PostgresCpu
) -> dict[str, Any]:
    key = _create_key(server.base_url)
    start = time.time() + 2.0  # the client processes need a moment to start
    measure_from = start + args.warmup
    stop_at = measure_from + args.seconds
    per_client = [args.concurrency // args.clients] * args.clients
    for i in range(args.concurrency % args.clients):
        per_client[i] += 1
    with ProcessPoolExecutor(max_workers=args.clients) as pool:
        futures = [
            pool.submit(
                _client_process,
                server.base_url,
                key,
                args.spans_per_request,
                n,
                (measure_from, stop_at),
            )
            for n in per_client
        ]
        # Spans stored before the window (the warm-up's) are not counted.
        time.sleep(max(0.0, measure_from - time.time()))
        before = counter.spans()
        postgres_cpu.start()
        cpu0, busy0 = server.cpu_seconds(), machine_busy()
        t0 = time.time()
        profiler = _start_py_spy(args.py_spy, server.pid, stop_at - t0) if args.py_spy else None
        time.sleep(max(0.0, stop_at - time.time()))
        if profiler is not None:
            profiler.wait()
        after = counter.spans()
        t1 = time.time()
        cpu1, pg_cpu, busy1 = server.cpu_seconds(), postgres_cpu.seconds(), machine_busy()
        results = [f.result() for f in futures]
    elapsed = t1 - t0
    accepted = sum(r.spans_accepted for r in results)
    final = _wait_drained(counter, accepted, before)
    latencies = sorted(x for r in results for x in r.latencies)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else []
    cores = os.cpu_count() or 1
    server_cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
    leaked = {secret[:6] + "…": counter.containing(secret) for secret in SECRETS}
    written = after - before
    client_cpu = sum(r.cpu_seconds for r in results) * args.seconds / stop_at_span(args)
    # On a shared machine the wall-clock rate depends on the neighbours; CPU per span does not.
    per_span = {
        "server": None if server_cpu is None or not written else 1e6 * server_cpu / written,
        "postgres": 1e6 * pg_cpu / written if written else None,
        "client": 1e6 * client_cpu / written if written else None,
    }
    known = [v for v in per_span.values() if v is not None]
    return {
        "written_spans_per_second": round((after - before) / elapsed, 1),
        "accepted_spans_per_second": round(accepted / args.seconds, 1),
        "requests": sum(r.requests for r in results),
        "p50_ms": round(cuts[49] * 1000, 1) if cuts else None,
        "p99_ms": round(cuts[98] * 1000, 1) if cuts else None,
        "http_503": sum(r.unavailable for r in results),
        "errors": sum(r.errors for r in results),
        "server_cpu_percent": None if server_cpu is None else round(100 * server_cpu / elapsed),
        "postgres_cpu_percent": (
            round(100 * pg_cpu / elapsed) if args.database == "postgres" else None
        ),
        "client_cpu_percent": round(100 * sum(r.cpu_seconds for r in results) / stop_at_span(args)),
        "machine_busy_percent": round(100 * cores * (busy1[0] - busy0[0]) / (busy1[1] - busy0[1])),
        "cpu_us_per_span": {k: None if v is None else round(v) for k, v in per_span.items()},
        # What the machine's cores could write if this run's CPU cost per span had them all.
        "cpu_bound_spans_per_second": round(cores * 1e6 / sum(known)) if known else None,
        "spans_in_window": written,
        "spans_stored_total": final,
        "secrets_stored": leaked,
        "redacted_spans": counter.containing("[REDACTED:"),
        "window_seconds": round(elapsed, 2),
    }


def stop_at_span(args: argparse.Namespace) -> float:
    """Wall time a client process runs (warm-up + window): the base of its CPU percentage."""
    return float(args.warmup + args.seconds)


def _print_table(report: dict[str, Any]) -> None:
    machine, setup, r = report["machine"], report["setup"], report["result"]
    print(f"machine:  {machine['cores']} cores ({machine['cpu']}), Python {machine['python']}")
    print(f"database: {setup['database']}")
    print(f"server:   {setup['server']}")
    print(f"client:   {setup['client']}")
    for name, value in r.items():
        print(f"  {name:<28} {value}")


def main() -> None:
    args = _parse_args()
    admin_url = args.postgres_url if args.database == "postgres" else None
    with tempfile.TemporaryDirectory(prefix="corral-bench-") as scratch:
        data_dir = Path(scratch)
        with _database(admin_url, data_dir) as (database_url, label):
            server = IngestServer(data_dir, database_url, args.workers)
            counter = SpanCounter(database_url, data_dir)
            _say(f"starting {' '.join(server.command[1:])}")
            with server:
                result = _run(args, server, counter, PostgresCpu(database_url))
    report = {
        "machine": _machine(),
        "setup": {
            "database": label,
            "server": f"corral serve --workers {args.workers} (background loops on)",
            "client": (
                f"{args.clients} process(es), {args.concurrency} requests in flight, "
                f"{args.spans_per_request} spans/request "
                f"(~{attribute_bytes(PayloadFactory(args.spans_per_request)):.0f} B of "
                f"attributes/span), {args.warmup:g} s warm-up + {args.seconds:g} s measured"
            ),
            "command": " ".join(sys.argv),
        },
        "result": result,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)


if __name__ == "__main__":
    main()

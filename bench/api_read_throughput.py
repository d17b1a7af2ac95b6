"""Throughput and latency of authenticated reads: API-key auth, rate limiter, database read.

Starts the real server in its own process (`python -m uvicorn --factory bench.server_app:app`,
the app from `create_app()` with the dev seed, rate limiting on with a limit it never reaches,
background loops on) on 127.0.0.1, creates end-users, warms up, then drives each endpoint with N
concurrent keep-alive clients for a fixed time. The client runs in this process, so on a small
machine the client and the server each get a core instead of sharing one.

    .venv/bin/python bench/api_read_throughput.py                      # SQLite, the default tier
    .venv/bin/python bench/api_read_throughput.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/api_read_throughput.py --seconds 5 --concurrency 32 --json

With `--database-url`, a database `corral_bench` is created on that server and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
import psycopg

from corral.core import secrets as server_secrets

DEV_KEY = "crl_dev_local_do_not_use_in_production"
BENCH_DATABASE = "corral_bench"
ENDPOINTS = ("/api/end-users?limit=10", "/api/me")
REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 60.0
SHUTDOWN_TIMEOUT_SECONDS = 15.0


@dataclass
class Result:
    endpoint: str
    requests: int
    errors: int
    seconds: float
    requests_per_second: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    client_cpu_percent: float
    server_cpu_percent: float | None


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Throughput and latency of authenticated reads.")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server URL (libpq form) to bench on; default: the embedded SQLite",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per endpoint")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured time per endpoint")
    parser.add_argument("--end-users", type=int, default=100, help="end-users created first")
    parser.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="server event loop; asyncio is what `corral serve` runs",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    if not 1 <= args.concurrency <= 1024:
        parser.error("--concurrency must be between 1 and 1024")
    if not 0 < args.seconds <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--seconds must be in (0, 600] and --warmup in [0, 60]")
    if not 0 <= args.end_users <= 10_000:
        parser.error("--end-users must be between 0 and 10000")
    return args


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@contextmanager
def _postgres_database(admin_url: str) -> Iterator[tuple[str, str]]:
    """A fresh `corral_bench` database; yields its URL and a label, drops it afterwards."""
    drop = f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
        version = conn.info.server_version
    parts = urlsplit(admin_url)
    url = urlunsplit(parts._replace(path=f"/{BENCH_DATABASE}"))
    label = (
        f"PostgreSQL {version // 10000}.{version % 10000} "
        f"({_without_password(url)}, on this machine)"
    )
    try:
        yield url, label
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(drop)


class Server:
    """The uvicorn process serving Corral; only this process is ever signalled."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str | None,
        loop: str,
        extra_env: dict[str, str] | None = None,
        factory: str = "bench.server_app:app",
    ) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        # Only the settings below: a developer's CORRAL_* variables must not change the setup.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
        env = {
            **inherited,
            **server_secrets.generate_env(),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
            ),
            "CORRAL_ENV": "development",
            "CORRAL_DATA_DIR": str(data_dir),
            "CORRAL_PUBLIC_URL": self.base_url,
            "CORRAL_SEED_DEV": "true",
            "CORRAL_DEV_API_KEY": DEV_KEY,
            # On, so its cost is measured, and high enough that it never rejects.
            "CORRAL_RATE_LIMIT_ENABLED": "true",
            "CORRAL_RATE_LIMIT_REQUESTS_PER_SECOND": "1000000",
            "CORRAL_RATE_LIMIT_BURST": "1000000",
            "CORRAL_LOOPS_ENABLED": "true",
        }
        if database_url is not None:
            env["CORRAL_DATABASE_URL"] = database_url
        env.update(extra_env or {})
        self.command = [
            sys.executable, "-m", "uvicorn", factory, "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--loop", loop,
            "--lifespan", "on", "--no-access-log", "--no-server-header",
        ]  # fmt: skip
        self._env = env
        self._cwd = data_dir
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> Server:
        with self.log_path.open("wb") as log:
            # cwd is the scratch directory, so a developer's `.env` cannot change the setup.
            self._process = subprocess.Popen(
                self.command, cwd=self._cwd, env=self._env, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        with httpx2.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    break
                try:
                    if client.get("/ready").status_code == 200:
                        return
                except httpx2.TransportError:
                    pass
                time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise SystemExit(f"the server did not become ready; its log ends with:\n{tail}")

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far (Linux), else None."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # Fields 14 and 15 of proc(5), counted after the command name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *_: object) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(SHUTDOWN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(SHUTDOWN_TIMEOUT_SECONDS)


async def _create_end_users(client: httpx2.AsyncClient, count: int) -> None:
    # One at a time: setup, not part of what is measured.
    for index in range(count):
        body = {"external_id": f"bench-{index}", "name": f"Bench user {index}"}
        response = await client.post("/api/end-users", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"creating end-users failed: {response.status_code} {response.text}")


async def _drive(
    client: httpx2.AsyncClient, server: Server, path: str, concurrency: int, seconds: float
) -> Result:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while (started := time.perf_counter()) < deadline:
            try:
                ok = (await client.get(path)).status_code == 200
            except httpx2.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    server_cpu, client_cpu, began = server.cpu_seconds(), time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    client_used = time.process_time() - client_cpu
    server_now = server.cpu_seconds()
    server_used = None if server_cpu is None or server_now is None else server_now - server_cpu
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else []

    def ms(index: int) -> float | None:
        return round(cuts[index] * 1000, 2) if cuts else None

    return Result(
        endpoint=f"GET {path}",
        requests=len(latencies),
        errors=errors,
        seconds=round(elapsed, 2),
        requests_per_second=round(len(latencies) / elapsed, 1),
        p50_ms=ms(49),
        p90_ms=ms(89),
        p99_ms=ms(98),
        client_cpu_percent=round(100 * client_used / elapsed, 1),
        server_cpu_percent=None if server_used is None else round(100 * server_used / elapsed, 1),
    )


async def _run(args: argparse.Namespace, server: Server) -> list[Result]:
    limits = httpx2.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    headers = {"Authorization": f"Bearer {DEV_KEY}"}
    async with httpx2.AsyncClient(
        base_url=server.base_url, headers=headers, limits=limits, timeout=30.0
    ) as client:
        _say(f"creating {args.end_users} end-users")
        await _create_end_users(client, args.end_users)
        first = await client.get(ENDPOINTS[0])
        if len(first.json()["data"]) != min(10, args.end_users):
            raise RuntimeError(f"unexpected first page: {first.text}")
        if "x-ratelimit-limit" not in first.headers:
            raise RuntimeError("the rate limiter is not in the request path")
        results = []
        for path in ENDPOINTS:
            if args.warmup:
                _say(f"warming up GET {path} for {args.warmup:g} s")
                await _drive(client, server, path, args.concurrency, args.warmup)
            _say(f"measuring GET {path} for {args.seconds:g} s with {args.concurrency} clients")
            results.append(await _drive(client, server, path, args.concurrency, args.seconds))
        return results


def _machine() -> dict[str, Any]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _print_table(report: dict[str, Any]) -> None:
    machine, setup = report["machine"], report["setup"]
    print(
        f"machine:  {machine['cores']} cores ({machine['cpu'] or 'unknown CPU'}), "
        f"Python {machine['python']}, {machine['platform']}"
    )
    print(f"database: {setup['database']}")
    print(f"server:   {setup['server']}")
    print(f"client:   {setup['client']}")
    header = (
        f"{'endpoint':<30} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7} {'server cpu':>11} {'client cpu':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in report["results"]:
        cells = [_cell(r[k]) for k in ("p50_ms", "p90_ms", "p99_ms")]
        print(
            f"{r['endpoint']:<30} {r['requests_per_second']:>9} {cells[0]:>8} {cells[1]:>8} "
            f"{cells[2]:>8} {r['errors']:>7} {_cell(r['server_cpu_percent'], '%'):>11} "
            f"{_cell(r['client_cpu_percent'], '%'):>11}"
        )


def _cell(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value}{unit}"


@contextmanager
def _database(admin_url: str | None, data_dir: Path) -> Iterator[tuple[str | None, str]]:
    if admin_url is None:
        yield None, f"SQLite, the embedded default (WAL; file in {data_dir}, removed afterwards)"
        return
    with _postgres_database(admin_url) as (url, label):
        yield url, label


def main() -> None:
    args = _parse_args()
    with tempfile.TemporaryDirectory(prefix="corral-bench-") as scratch:
        data_dir = Path(scratch)
        with _database(args.database_url, data_dir) as (database_url, label):
            server = Server(data_dir, database_url, args.loop)
            _say(f"starting {' '.join(server.command[1:])}")
            with server:
                results = asyncio.run(_run(args, server))
    report = {
        "machine": _machine(),
        "setup": {
            "database": label,
            "server": (
                f"separate process: python -m uvicorn, {args.loop} loop, 1 worker, "
                "rate limiting on (never rejecting), background loops on, access log at INFO"
            ),
            "client": (
                f"this process: httpx2.AsyncClient, {args.concurrency} concurrent keep-alive "
                f"connections, {args.seconds:g} s per endpoint after {args.warmup:g} s warm-up, "
                f"{args.end_users} end-users"
            ),
            "concurrency": args.concurrency,
            "seconds": args.seconds,
        },
        "results": [asdict(r) for r in results],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)


if __name__ == "__main__":
    main()

"""Round trip of `POST /api/decisions` with 50 policies: p50/p99 latency and requests per second.

Starts the real server in its own process (`python -m uvicorn --factory bench.server_app:app`,
as `bench/api_read_throughput.py` does: dev seed, rate limiting on but never rejecting, loops
on), creates the 50 policies of `tests/sdk/corpus/bench_policies.json` through the API, warms
up, then drives two workloads with N concurrent keep-alive clients for a fixed time:

- `catalog calls`: the catalog's realistic calls in turn. Most tool calls match the catalog's
  "log every tool call" policy, so most answers also write a decision evidence row.
- `plain allow`: a call only the catalog's global policy covers and does not match, so the
  answer is a plain allow with nothing written: the floor of the round trip.

    .venv/bin/python -m bench.decision_api                       # SQLite, the default tier
    .venv/bin/python -m bench.decision_api --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m bench.decision_api --redis-url redis://127.0.0.1:6379/15  # shared buckets
    .venv/bin/python -m bench.decision_api --seconds 2 --warmup 1 --json

Run from the repository root as a module: it reuses the server harness of the read benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx2

from bench.api_read_throughput import DEV_KEY, REPO_ROOT, Server, _database, _machine

CATALOG = REPO_ROOT / "tests" / "sdk" / "corpus" / "bench_policies.json"
PLAIN_ALLOW: dict[str, Any] = {
    "name": "chat.unlisted",
    "attributes": {"gen_ai.agent.name": "researcher"},
}


@dataclass
class Result:
    workload: str
    requests: int
    errors: int
    seconds: float
    requests_per_second: float
    p50_ms: float | None
    p99_ms: float | None
    actions: dict[str, int]
    recorded: int
    server_cpu_percent: float | None


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="POST /api/decisions round trip.")
    parser.add_argument("--database-url", help="PostgreSQL server URL; default: embedded SQLite")
    parser.add_argument("--redis-url", help="Redis URL: throttle buckets shared through Redis")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per workload")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured time per workload")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    if not 1 <= args.concurrency <= 1024:
        parser.error("--concurrency must be between 1 and 1024")
    if not 0 < args.seconds <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--seconds must be in (0, 600] and --warmup in [0, 60]")
    return args


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _catalog() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    document = json.loads(CATALOG.read_text())
    policies = [
        {key: value for key, value in raw.items() if key != "id"} for raw in document["policies"]
    ]
    calls = [{"name": raw["name"], "attributes": raw["attrs"]} for raw in document["calls"]]
    return policies, calls


async def _create_policies(client: httpx2.AsyncClient, policies: list[dict[str, Any]]) -> None:
    for body in policies:
        response = await client.post("/api/policies", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"creating a policy failed: {response.status_code} {response.text}")


async def _drive(
    client: httpx2.AsyncClient,
    server: Server,
    name: str,
    bodies: list[dict[str, Any]],
    concurrency: int,
    seconds: float,
) -> Result:
    latencies: list[float] = []
    actions: dict[str, int] = {}
    errors = recorded = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal errors, recorded
        index = offset
        while (started := time.perf_counter()) < deadline:
            body = bodies[index % len(bodies)]
            index += 1
            try:
                response = await client.post("/api/decisions", json=body)
            except httpx2.HTTPError:
                errors += 1
                continue
            if response.status_code != 200:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)
            answer = response.json()
            actions[answer["action"]] = actions.get(answer["action"], 0) + 1
            recorded += answer["decision_id"] is not None

    server_cpu, began = server.cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - began
    server_now = server.cpu_seconds()
    server_used = None if server_cpu is None or server_now is None else server_now - server_cpu
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else []
    return Result(
        workload=name,
        requests=len(latencies),
        errors=errors,
        seconds=round(elapsed, 2),
        requests_per_second=round(len(latencies) / elapsed, 1),
        p50_ms=round(cuts[49] * 1000, 2) if cuts else None,
        p99_ms=round(cuts[98] * 1000, 2) if cuts else None,
        actions=dict(sorted(actions.items())),
        recorded=recorded,
        server_cpu_percent=None if server_used is None else round(100 * server_used / elapsed, 1),
    )


async def _run(args: argparse.Namespace, server: Server) -> list[Result]:
    limits = httpx2.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    headers = {"Authorization": f"Bearer {DEV_KEY}"}
    policies, calls = _catalog()
    async with httpx2.AsyncClient(
        base_url=server.base_url, headers=headers, limits=limits, timeout=30.0
    ) as client:
        _say(f"creating {len(policies)} policies")
        await _create_policies(client, policies)
        workloads = [("catalog calls", calls), ("plain allow", [PLAIN_ALLOW])]
        results = []
        for name, bodies in workloads:
            if args.warmup:
                _say(f"warming up {name} for {args.warmup:g} s")
                await _drive(client, server, name, bodies, args.concurrency, args.warmup)
            _say(f"measuring {name} for {args.seconds:g} s with {args.concurrency} clients")
            results.append(
                await _drive(client, server, name, bodies, args.concurrency, args.seconds)
            )
        return results


def _print_table(report: dict[str, Any]) -> None:
    machine, setup = report["machine"], report["setup"]
    print(
        f"machine:  {machine['cores']} cores ({machine['cpu'] or 'unknown CPU'}), "
        f"Python {machine['python']}"
    )
    print(f"database: {setup['database']}")
    print(f"throttle: {setup['throttle_store']}")
    print(f"client:   {setup['client']}")
    header = (
        f"{'workload':<15} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'recorded':>9} {'server cpu':>11}  actions"
    )
    print(header)
    print("-" * len(header))
    for r in report["results"]:
        cpu = "n/a" if r["server_cpu_percent"] is None else f"{r['server_cpu_percent']}%"
        print(
            f"{r['workload']:<15} {r['requests_per_second']:>8} {r['p50_ms']!s:>8} "
            f"{r['p99_ms']!s:>8} {r['errors']:>7} {r['recorded']:>9} {cpu:>11}  {r['actions']}"
        )


def main() -> None:
    args = _parse_args()
    extra = {"CORRAL_REDIS_URL": args.redis_url} if args.redis_url else {}
    with tempfile.TemporaryDirectory(prefix="corral-bench-") as scratch:
        data_dir = Path(scratch)
        with _database(args.database_url, data_dir) as (database_url, label):
            server = Server(data_dir, database_url, "asyncio", extra_env=extra)
            _say(f"starting {' '.join(server.command[1:])}")
            with server:
                results = asyncio.run(_run(args, server))
    report = {
        "machine": _machine(),
        "setup": {
            "database": label,
            "throttle_store": "Redis (shared)" if args.redis_url else "in process",
            "server": "separate process: python -m uvicorn, asyncio loop, 1 worker",
            "client": (
                f"this process: {args.concurrency} concurrent keep-alive connections, "
                f"{args.seconds:g} s per workload after {args.warmup:g} s warm-up"
            ),
        },
        "results": [asdict(r) for r in results],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)


if __name__ == "__main__":
    main()

"""How long a halt takes to reach an SDK client: from `POST /api/halts` answering to the
client raising `Halted`.

Starts the real server in its own process (as `bench/api_read_throughput.py` does) and one SDK
client with its default half-second halt poll, then makes and clears `--halts` agent halts one
after the other. The client waits on its poll (`wait_for_halts`), not on a timer.

    .venv/bin/python -m bench.halt_latency
    .venv/bin/python -m bench.halt_latency --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx2

from bench.api_read_throughput import DEV_KEY, Server, _database
from corral_sdk import Client, Halted


def main() -> None:
    parser = argparse.ArgumentParser(description="Halt to SDK latency.")
    parser.add_argument("--database-url")
    parser.add_argument("--halts", type=int, default=10)
    args = parser.parse_args()
    latencies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="corral-bench-") as scratch:
        data_dir = Path(scratch)
        with (
            _database(args.database_url, data_dir) as (database_url, label),
            Server(data_dir, database_url, "asyncio") as server,
            httpx2.Client(
                base_url=server.base_url,
                headers={"Authorization": f"Bearer {DEV_KEY}"},
                timeout=30.0,
            ) as http,
            Client(DEV_KEY, server.base_url, agent="ops", export_spans=False) as client,
        ):
            client.check("tool.warm")
            for index in range(args.halts):
                created = http.post(
                    "/api/halts",
                    json={"scope": "agent", "scope_value": "ops", "reason": f"bench {index}"},
                )
                assert created.status_code == 201, created.text
                made = time.perf_counter()
                while True:
                    try:
                        client.check("tool.x")
                    except Halted:
                        latencies.append(time.perf_counter() - made)
                        break
                    client.wait_for_halts(5.0)
                http.post(f"/api/halts/{created.json()['id']}/clear")
                while True:
                    try:
                        client.check("tool.x")
                        break
                    except Halted:
                        client.wait_for_halts(5.0)
    ordered = sorted(latencies)
    print(f"database: {label}")
    poll = client.halt_poll_interval_seconds
    print(
        f"halt → SDK Halted over {len(ordered)} halts: p50 {statistics.median(ordered) * 1000:.0f} "
        f"ms, max {ordered[-1] * 1000:.0f} ms (poll every {poll:g} s, ±20% jitter)"
    )


if __name__ == "__main__":
    main()

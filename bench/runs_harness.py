"""What the hosted-run benchmarks share: a Corral server running runs, a trivial agent, timing.

The server is the real one in its own process (`bench.run_server_app`, which is `corral serve`'s
app plus timing probes and `GET /bench/state`), with the embedded worker, the warm pool and the
default sandbox (bubblewrap where it works). The agent is scripted: one model turn that returns
the output, so a run is all platform and no model.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2

from bench.api_read_throughput import DEV_KEY, Server, _database, _machine

AGENT_NAME = "bench-trivial"
TRIVIAL_AGENT: dict[str, Any] = {
    "manifest": {
        "name": AGENT_NAME,
        "version": "1.0.0",
        "description": "One scripted turn that returns the output: a run with no model time.",
        "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        "output_schema": {
            "type": "object",
            "properties": {"queue": {"type": "string"}},
            "required": ["queue"],
        },
        "model": {"provider": "scripted", "turns": [{"output": {"queue": "billing"}}]},
        # The default timeout: the warm pool's slots are made with the default limits, and a
        # run takes a warm slot only when its limits (CPU seconds follow the timeout) match.
    },
    "prompt": "Route the ticket.",
}
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "timed_out"})
# Platform limits high enough that a benchmark's burst is never refused.
BENCH_PLATFORM_LIMITS = {"per_org_global_rate_per_min": 100_000, "max_concurrent_per_org": 1000}
POOL_READY_TIMEOUT_SECONDS = 180.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    found = _machine()
    found["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return found


def percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def iso_ns(value: str) -> int:
    """Unix nanoseconds of an API timestamp."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1_000_000_000)


@dataclass(frozen=True, slots=True)
class RunCorral:
    server: Server
    label: str

    @property
    def base_url(self) -> str:
        return self.server.base_url


@contextmanager
def run_corral(
    *,
    pool_size: int,
    concurrency: int,
    database_url: str | None,
    data_dir: Path,
    refill_delay: float = 0.0,
) -> Iterator[RunCorral]:
    """A Corral server whose embedded worker runs `concurrency` runs at once, with a pool."""
    extra = {
        "CORRAL_WORKER_IN_SERVER": "true",
        "CORRAL_SIDECAR_POOL_SIZE": str(pool_size),
        "CORRAL_WORKER_CONCURRENCY": str(concurrency),
        "CORRAL_PLATFORM_RUN_LIMITS": json.dumps(BENCH_PLATFORM_LIMITS),
        "BENCH_REFILL_DELAY_SECONDS": str(refill_delay),
    }
    with _database(database_url, data_dir) as (url, label):
        server = Server(data_dir, url, "asyncio", extra_env=extra, factory=_FACTORY)
        say(f"starting {' '.join(server.command[1:])} (pool {pool_size}, workers {concurrency})")
        with server:
            yield RunCorral(server, label)


_FACTORY = "bench.run_server_app:app"


def client(base_url: str, *, connections: int = 8) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {DEV_KEY}"},
        limits=httpx2.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=60.0,
        trust_env=False,
    )


async def install_agent(http: httpx2.AsyncClient) -> None:
    response = await http.post("/api/agents", json=TRIVIAL_AGENT)
    if response.status_code != 201:
        raise RuntimeError(f"creating the agent failed: {response.status_code} {response.text}")


async def state(http: httpx2.AsyncClient) -> dict[str, Any]:
    response = await http.get("/bench/state")
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


async def wait_pool_full(http: httpx2.AsyncClient) -> float:
    """Wait until every slot of the pool is ready and no run is active; returns the wait (s)."""
    began = time.perf_counter()
    deadline = began + POOL_READY_TIMEOUT_SECONDS
    while time.perf_counter() < deadline:
        now = await state(http)
        if now["active"] == 0 and now["ready"] == now["pool_size"]:
            return time.perf_counter() - began
        await asyncio.sleep(0.02)
    raise RuntimeError(f"the warm pool did not fill within {POOL_READY_TIMEOUT_SECONDS:g} s")


async def submit(http: httpx2.AsyncClient, number: int) -> dict[str, Any]:
    response = await http.post("/api/runs", json={"agent": AGENT_NAME, "input": {"n": number}})
    if response.status_code != 201:
        raise RuntimeError(f"POST /api/runs failed: {response.status_code} {response.text}")
    run: dict[str, Any] = response.json()
    return run


async def finished(http: httpx2.AsyncClient, run_id: str) -> dict[str, Any]:
    deadline = time.perf_counter() + 300
    while time.perf_counter() < deadline:
        response = await http.get(f"/api/runs/{run_id}?wait=30")
        run: dict[str, Any] = response.json()
        if run["status"] in TERMINAL:
            return run
    raise RuntimeError(f"run {run_id} did not end within 300 s")


async def events(http: httpx2.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    response = await http.get(f"/api/runs/{run_id}/logs")
    response.raise_for_status()
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def first_model_call_ns(log: list[dict[str, Any]]) -> int:
    for event in log:
        if event["kind"] == "model_call":
            started: int = event["data"]["started_at_ns"]
            return started
    raise RuntimeError("the run made no model call")


def cpu_seconds_of(pid: int) -> float | None:
    """User + system CPU of the process itself (Linux). Its sandboxes are not counted: their
    runtimes are reaped inside bubblewrap's namespaces and cgroups, not by the server."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime, stime: fields 14 and 15 of proc(5), counted after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot, everyone's (Linux `/proc/stat`)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")

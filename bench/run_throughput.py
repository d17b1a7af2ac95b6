"""Throughput of hosted runs: a burst of trivial scripted runs at increasing worker concurrency.

For each level C (`--levels`, default 1 2 4) the script starts the real server in its own
process (`bench.run_server_app`: embedded worker with concurrency C, a warm pool of C slots by
default, the default sandbox), installs the trivial scripted agent, does one unmeasured run,
waits until the pool is full, then submits K runs at once (`--runs`) and waits for all of them.

It prints, per level: runs per minute (K over the time from the first submission to the last
run's `finished_at`), the p50/p99 end-to-end latency of a run (submission to `finished_at`) and
of its start (submission to the first model call in the sidecar), how many runs found a warm
slot, and the CPU the server used with its sandboxes (per run, and as cores over the window).
A burst larger than the pool outruns its refill: those runs start cold, importing the agent
library in their sandbox, which is what bounds throughput on a small machine.

    .venv/bin/python -m bench.run_throughput
    .venv/bin/python -m bench.run_throughput --levels 1 2 4 8 --runs 16
    .venv/bin/python -m bench.run_throughput --pool-size 4 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx2

from bench import runs_harness as harness


@dataclass
class Result:
    concurrency: int
    pool_size: int
    runs: int
    succeeded: int
    warm_runs: int
    seconds: float
    runs_per_minute: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    start_p50_ms: float | None
    start_p99_ms: float | None
    # The server process itself (API, worker, sidecars), not its sandboxes.
    server_cpu_seconds_per_run: float | None
    # Every process on the machine, neighbours included: how busy the cores were.
    machine_busy_cores: float


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Concurrent trivial runs per minute.")
    parser.add_argument("--database-url", help="PostgreSQL server URL; default: embedded SQLite")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 4], help="concurrency")
    parser.add_argument("--runs", type=int, default=12, help="runs submitted at once per level")
    parser.add_argument("--pool-size", type=int, help="warm slots; default: the level's C")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    if not all(1 <= level <= 64 for level in args.levels):
        parser.error("--levels must be between 1 and 64")
    if not 1 <= args.runs <= 500:
        parser.error("--runs must be between 1 and 500")
    if args.pool_size is not None and not 0 <= args.pool_size <= 64:
        parser.error("--pool-size must be between 0 and 64")
    return args


async def _submit_and_wait(
    http: httpx2.AsyncClient, number: int
) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    submitted = time.time_ns()
    queued = await harness.submit(http, number)
    run = await harness.finished(http, queued["id"])
    log = await harness.events(http, run["id"])
    return submitted, run, log


async def _burst(base_url: str, pid: int, level: int, pool: int, runs: int) -> Result:
    async with harness.client(base_url, connections=max(8, 2 * runs)) as http:
        await harness.install_agent(http)
        harness.say(f"C={level}: one unmeasured run, then waiting for the pool of {pool}")
        await _submit_and_wait(http, -1)
        await harness.wait_pool_full(http)
        cpu_before, busy_before = harness.cpu_seconds_of(pid), harness.machine_busy_seconds()
        harness.say(f"C={level}: submitting {runs} runs at once")
        began = time.time_ns()
        outcomes = await asyncio.gather(*(_submit_and_wait(http, n) for n in range(runs)))
        cpu_after, busy_after = harness.cpu_seconds_of(pid), harness.machine_busy_seconds()
        probes = (await harness.state(http))["times"]
    ends = [harness.iso_ns(run["finished_at"]) for _, run, _ in outcomes]
    latencies = [
        (end - submitted) / 1e6 for end, (submitted, _, _) in zip(ends, outcomes, strict=True)
    ]
    starts = [
        (harness.first_model_call_ns(log) - submitted) / 1e6
        for submitted, run, log in outcomes
        if run["status"] == "succeeded"
    ]
    seconds = (max(ends) - began) / 1e9
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return Result(
        concurrency=level,
        pool_size=pool,
        runs=runs,
        succeeded=sum(1 for _, run, _ in outcomes if run["status"] == "succeeded"),
        warm_runs=sum(1 for _, run, _ in outcomes if probes.get(run["id"], {}).get("warm")),
        seconds=round(seconds, 2),
        runs_per_minute=round(runs / seconds * 60, 1),
        latency_p50_ms=harness.ms(harness.percentile(latencies, 50)),
        latency_p99_ms=harness.ms(harness.percentile(latencies, 99)),
        start_p50_ms=harness.ms(harness.percentile(starts, 50)),
        start_p99_ms=harness.ms(harness.percentile(starts, 99)),
        server_cpu_seconds_per_run=None if cpu is None else round(cpu / runs, 2),
        machine_busy_cores=round((busy_after - busy_before) / seconds, 2),
    )


def _level(args: argparse.Namespace, level: int) -> tuple[Result, str]:
    pool = level if args.pool_size is None else args.pool_size
    with (
        tempfile.TemporaryDirectory(prefix="corral-bench-runs-") as scratch,
        harness.run_corral(
            pool_size=pool,
            concurrency=level,
            database_url=args.database_url,
            data_dir=Path(scratch),
        ) as corral,
    ):
        result = asyncio.run(_burst(corral.base_url, corral.server.pid, level, pool, args.runs))
        return result, corral.label


def _print_table(report: dict[str, Any]) -> None:
    found = report["machine"]
    print(
        f"machine:  {found['cores']} cores ({found['cpu'] or 'unknown CPU'}), "
        f"Python {found['python']}, load average before {found['load_average']}, "
        f"after {report['load_average_after']}"
    )
    print(f"database: {report['database']}")
    header = (
        f"{'C':>3} {'pool':>5} {'runs':>5} {'ok':>4} {'warm':>5} {'runs/min':>9} "
        f"{'e2e p50 ms':>11} {'e2e p99 ms':>11} {'start p50':>10} {'start p99':>10} "
        f"{'server CPU s/run':>16} {'busy cores':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in report["results"]:
        print(
            f"{r['concurrency']:>3} {r['pool_size']:>5} {r['runs']:>5} {r['succeeded']:>4} "
            f"{r['warm_runs']:>5} {r['runs_per_minute']:>9} {r['latency_p50_ms']!s:>11} "
            f"{r['latency_p99_ms']!s:>11} {r['start_p50_ms']!s:>10} {r['start_p99_ms']!s:>10} "
            f"{r['server_cpu_seconds_per_run']!s:>16} {r['machine_busy_cores']!s:>10}"
        )


def main() -> None:
    args = _parse_args()
    before = harness.machine()
    results: list[Result] = []
    label = ""
    for level in args.levels:
        result, label = _level(args, level)
        results.append(result)
        harness.say(f"C={level}: {result.runs_per_minute} runs/min")
    report = {
        "machine": before,
        "load_average_after": harness.machine()["load_average"],
        "database": label,
        "results": [asdict(r) for r in results],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)


if __name__ == "__main__":
    main()

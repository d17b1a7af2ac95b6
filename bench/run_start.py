"""Run start latency: from just before `POST /api/runs` to the first model call in the sidecar.

Starts the real server in its own process (`bench.run_server_app`: `corral serve`'s app with the
embedded worker, the bubblewrap sandbox and the warm pool, plus timing probes), installs a
trivial scripted agent (one turn: the output), then runs it N times, one run at a time:

- **with the pool** (`--pool-size`, default 1): before each measured run the script waits until
  the previous run has ended and every pool slot is ready again (`ready_count == size`), so
  each run measures the steady state in which the next slot has been refilled in the
  background. A burst that outruns the refill falls back to cold starts (`bench.run_throughput`).
- **without the pool** (pool size 0): every run starts its sandbox, whose runtime imports
  pydantic-ai first, so there are fewer iterations (`--cold-runs`).

The end point is the `started_at_ns` of the run's first `model_call` event, which the scripted
model gateway takes inside the sidecar when the request reaches it. Both ends are
`time.time_ns()` on the same machine. One unmeasured run warms up each server first. The
breakdown splits each run at the probes of `bench.run_server_app`.

    .venv/bin/python -m bench.run_start
    .venv/bin/python -m bench.run_start --runs 50 --cold-runs 5 --pool-size 2
    .venv/bin/python -m bench.run_start --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m bench.run_start --skip-cold --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from bench.runs_harness import client as api_client
from bench.runs_harness import events as run_events
from bench.runs_harness import finished as run_finished
from bench.runs_harness import (
    first_model_call_ns,
    install_agent,
    iso_ns,
    machine,
    ms,
    percentile,
    run_corral,
    say,
    state,
    submit,
    wait_pool_full,
)

# (segment name, from probe, to probe): consecutive, so the segments add up to the total.
SEGMENTS: tuple[tuple[str, str, str], ...] = (
    ("POST → claim starts (request, insert, commit, worker wake-up)", "post", "claim_began"),
    ("claim transaction", "claim_began", "claimed"),
    ("claimed → executor runs it", "claimed", "executing"),
    ("executor → slot acquired (warm: taken; cold: sandbox started)", "executing", "slot_acquired"),
    ("slot → sidecar assigned", "slot_acquired", "assigned"),
    ("assigned → runtime's poll answered (cold: imports)", "assigned", "assignment_sent"),
    ("runtime: agent built, first request sent, arrives", "assignment_sent", "model_request"),
    ("sidecar reads the request → model call starts", "model_request", "model_call"),
)
# After the end point, for the record: the first model call's whole time in the sidecar, which
# includes committing its `model_call` event to the database before answering.
AFTER = ("(after) first model call answered, its event committed", "model_call", "model_answered")


@dataclass
class Sample:
    total_ms: float
    post_answered_ms: float
    warm: bool | None
    segments_ms: dict[str, float]


@dataclass
class Result:
    mode: str
    pool_size: int
    runs: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    min_ms: float | None
    max_ms: float | None
    warm_runs: int
    breakdown_p50_ms: dict[str, float | None] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run start latency, with and without the pool.")
    parser.add_argument("--database-url", help="PostgreSQL server URL; default: embedded SQLite")
    parser.add_argument("--runs", type=int, default=30, help="measured runs with the pool")
    parser.add_argument("--cold-runs", type=int, default=5, help="measured runs without it")
    parser.add_argument("--pool-size", type=int, default=1, help="warm slots (at least 1)")
    parser.add_argument("--skip-cold", action="store_true", help="only measure with the pool")
    parser.add_argument("--skip-warm", action="store_true", help="only measure without it")
    parser.add_argument(
        "--refill-delay",
        type=float,
        default=0.0,
        help="experiment: the pool refills a taken slot this many seconds later, not at once",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    if not 1 <= args.pool_size <= 16:
        parser.error("--pool-size must be between 1 and 16")
    if not 1 <= args.runs <= 1000 or not 1 <= args.cold_runs <= 100:
        parser.error("--runs must be in [1, 1000] and --cold-runs in [1, 100]")
    return args


async def _one_run(http: httpx2.AsyncClient, number: int) -> Sample:
    await wait_pool_full(http)
    began = time.time_ns()
    queued = await submit(http, number)
    answered = time.time_ns()
    run = await run_finished(http, queued["id"])
    if run["status"] != "succeeded":
        raise RuntimeError(f"run {run['id']} ended {run['status']}: {run['error']}")
    log = await run_events(http, run["id"])
    probes: dict[str, int] = dict((await state(http))["times"].get(run["id"], {}))
    probes["post"] = began
    probes["model_call"] = first_model_call_ns(log)
    segments = {
        name: (probes[end] - probes[start]) / 1e6
        for name, start, end in (*SEGMENTS, AFTER)
        if start in probes and end in probes
    }
    # Cross-check: the run row's created_at lies inside the first segment.
    assert began <= iso_ns(run["created_at"]) + 1_000_000
    return Sample(
        total_ms=(probes["model_call"] - began) / 1e6,
        post_answered_ms=(answered - began) / 1e6,
        warm=bool(probes["warm"]) if "warm" in probes else None,
        segments_ms=segments,
    )


async def _measure(base_url: str, mode: str, pool_size: int, runs: int) -> Result:
    async with api_client(base_url) as http:
        await install_agent(http)
        say(f"{mode}: one unmeasured run to warm the server up")
        await _one_run(http, -1)
        samples = []
        for number in range(runs):
            sample = await _one_run(http, number)
            samples.append(sample)
            say(f"{mode}: run {number + 1}/{runs}: {sample.total_ms:.1f} ms (warm={sample.warm})")
    totals = [s.total_ms for s in samples]
    breakdown = {
        name: ms(statistics.median(v))
        if (v := [s.segments_ms[name] for s in samples if name in s.segments_ms])
        else None
        for name, _, _ in (*SEGMENTS, AFTER)
    }
    return Result(
        mode=mode,
        pool_size=pool_size,
        runs=len(samples),
        p50_ms=ms(percentile(totals, 50)),
        p90_ms=ms(percentile(totals, 90)),
        p99_ms=ms(percentile(totals, 99)),
        min_ms=ms(min(totals)),
        max_ms=ms(max(totals)),
        warm_runs=sum(1 for s in samples if s.warm),
        breakdown_p50_ms=breakdown,
        samples=samples,
    )


def _run_mode(args: argparse.Namespace, mode: str, pool_size: int, runs: int) -> tuple[Result, str]:
    with (
        tempfile.TemporaryDirectory(prefix="corral-bench-runs-") as scratch,
        run_corral(
            pool_size=pool_size,
            concurrency=1,
            database_url=args.database_url,
            data_dir=Path(scratch),
            refill_delay=args.refill_delay,
        ) as corral,
    ):
        result = asyncio.run(_measure(corral.base_url, mode, pool_size, runs))
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
        f"{'mode':<22} {'runs':>5} {'warm':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'min':>7} {'max':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in report["results"]:
        print(
            f"{r['mode']:<22} {r['runs']:>5} {r['warm_runs']:>5} {r['p50_ms']!s:>8} "
            f"{r['p90_ms']!s:>8} {r['p99_ms']!s:>8} {r['min_ms']!s:>7} {r['max_ms']!s:>7}"
        )
    for r in report["results"]:
        print(f"\nwhere the time goes, {r['mode']} (median of each step, ms):")
        for name, value in r["breakdown_p50_ms"].items():
            print(f"  {value!s:>9}  {name}")


def main() -> None:
    args = _parse_args()
    load_before = machine()
    results: list[Result] = []
    label = ""
    if not args.skip_warm:
        result, label = _run_mode(args, f"pool of {args.pool_size}", args.pool_size, args.runs)
        results.append(result)
    if not args.skip_cold:
        result, label = _run_mode(args, "no pool", 0, args.cold_runs)
        results.append(result)
    report = {
        "machine": load_before,
        "load_average_after": machine()["load_average"],
        "database": label,
        "setup": (
            "server: separate process (uvicorn, bench.run_server_app), embedded worker with "
            "concurrency 1, default sandbox; client: this process, one run at a time"
        ),
        "results": [asdict(r) for r in results],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)


if __name__ == "__main__":
    main()

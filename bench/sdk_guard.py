"""Overhead of the SDK client: `client.check` and a guarded no-op function, with 50 policies.

The 50 policies and 9 realistic calls of `tests/sdk/corpus/bench_policies.json` are loaded into
a `Client` with `load_bundle` (no server: the endpoint is a closed port, so the background
refresh fails quietly and the bundle stays in force, fail-static). Each workload cycles through
the calls; every sample is one call, timed with `perf_counter_ns`, best of 3 rounds.

- `PolicySet.decide`: the engine alone, the floor.
- `client.check`: the client's path (attributes, JSON arguments, decision, enforcement), with
  span export off, then with spans on (a tool span per call, to a discarding exporter, so the
  cost measured is building and ending the span and queueing it for the batch processor).
- `@client.guard` no-op: the same with signature binding and a span around the body.

Refusals (block, throttle) raise; the benchmark catches them, so their cost is included.

    .venv/bin/python -m bench.sdk_guard            # text table
    .venv/bin/python -m bench.sdk_guard --json     # one JSON document
    .venv/bin/python -m bench.sdk_guard --quick    # a tenth of the samples
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from corral_sdk import Client, PolicyBlocked
from corral_sdk.bundle import parse_bundle
from corral_sdk.policy import InMemoryThrottleStore

REPO_ROOT = Path(__file__).resolve().parent.parent
CATALOG = REPO_ROOT / "tests" / "sdk" / "corpus" / "bench_policies.json"
# Nothing listens on the discard port: bundle refreshes fail at once and change nothing.
NOWHERE = "http://127.0.0.1:9"
ROUNDS = 3


class DiscardingExporter(SpanExporter):
    """Accepts every batch and keeps nothing."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        del spans
        return SpanExportResult.SUCCESS


def _catalog() -> tuple[dict[str, Any], list[tuple[str, dict[str, Any], dict[str, Any]]]]:
    data = json.loads(CATALOG.read_text())
    for policy in data["policies"]:
        # The throttles of the catalog would refuse nearly every call after the first few.
        if policy["action"] == "throttle":
            policy["action_config"] = {**policy["action_config"], "max_calls": 10**9}
    bundle = {"revision": "bench", "default_posture": "allow", "policies": data["policies"]}
    calls = []
    for call in data["calls"]:
        attrs = dict(call["attrs"])
        args = json.loads(attrs.pop("corral.tool.args", "{}"))
        calls.append((call["name"], args, attrs))
    return bundle, calls


def _measure(operation: Callable[[int], object], count: int) -> list[int]:
    best: list[int] | None = None
    for _ in range(ROUNDS):
        samples: list[int] = []
        gc.collect()
        gc.disable()
        try:
            for index in range(count):
                start = time.perf_counter_ns()
                operation(index)
                samples.append(time.perf_counter_ns() - start)
        finally:
            gc.enable()
        samples.sort()
        if best is None or samples[len(samples) // 2] < best[len(best) // 2]:
            best = samples
    assert best is not None
    return best


def _row(name: str, samples: list[int]) -> dict[str, Any]:
    def at(share: float) -> float:
        return samples[min(len(samples) - 1, int(share * len(samples)))] / 1000

    return {"workload": name, "samples": len(samples), "p50_us": at(0.5), "p99_us": at(0.99)}


def _client(bundle: dict[str, Any], *, spans: bool) -> Client:
    client = Client(
        "crl_bench_key_not_used",
        NOWHERE,
        agent="researcher",
        refresh_interval_seconds=3600,
        timeout_seconds=0.5,
        export_spans=spans,
        span_exporter=DiscardingExporter() if spans else None,
    )
    client.load_bundle(bundle)
    return client


def _no_op(**arguments: Any) -> None:
    """The guarded tool: does nothing, so only the guard is measured."""
    del arguments


def _refused(call: Callable[[], object]) -> None:
    with contextlib.suppress(PolicyBlocked):
        call()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    count = 2_000 if options.quick else 20_000
    # The refresh against the closed port would log a warning; it is expected here.
    logging.getLogger("corral_sdk").setLevel(logging.ERROR)

    bundle, calls = _catalog()
    engine = parse_bundle(bundle).compile(InMemoryThrottleStore(), strict=True)
    decide_inputs = [
        (name, {**attrs, "corral.tool.args": json.dumps(args)}) for name, args, attrs in calls
    ]

    def decide(index: int) -> object:
        name, attrs = decide_inputs[index % len(decide_inputs)]
        return engine.decide(name, attrs, agent="researcher")

    rows = [_row("PolicySet.decide (engine only)", _measure(decide, count))]
    for spans in (False, True):
        client = _client(bundle, spans=spans)
        label = "spans on" if spans else "spans off"
        guarded = {name: client.guard(name=name)(_no_op) for name, _, _ in calls}

        def check(index: int, client: Client = client) -> object:
            name, args, attrs = calls[index % len(calls)]
            _refused(lambda: client.check(name, args=args, attributes=attrs))
            return None

        def guard(index: int, guarded: dict[str, Callable[..., None]] = guarded) -> object:
            name, args, _ = calls[index % len(calls)]
            _refused(lambda: guarded[name](**args))
            return None

        rows.append(_row(f"client.check, {label}", _measure(check, count)))
        rows.append(_row(f"@client.guard no-op, {label}", _measure(guard, count)))
        client.close()

    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "policies": len(bundle["policies"]),
        "calls": len(calls),
    }
    if options.json:
        json.dump({"machine": machine, "results": rows}, sys.stdout, indent=2)
        print()
        return
    print(
        f"{machine['policies']} policies, {machine['calls']} calls in turn, "
        f"Python {machine['python']}, {machine['cpus']} CPUs; best of {ROUNDS} rounds"
    )
    print(f"{'workload':<40} {'samples':>8} {'p50 µs':>8} {'p99 µs':>8}")
    for row in rows:
        print(
            f"{row['workload']:<40} {row['samples']:>8} {row['p50_us']:>8.1f} {row['p99_us']:>8.1f}"
        )


if __name__ == "__main__":
    main()

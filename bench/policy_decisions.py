"""The policy engine: the three CEL engines compared, then decisions with 50 policies.

For each engine: import time, compile time, evaluation time with the dict-to-CEL conversion
included (a fresh activation per evaluation), and the conformance corpus. Then the latency of
`PolicySet.decide` for realistic calls against 50 realistic policies, per engine. The policies,
calls and corpus live under tests/sdk/corpus/, which the test suite keeps valid.

Run from the repository root, as a module so that the corpus loader of the tests is importable:

    .venv/bin/python -m bench.policy_decisions            # text tables
    .venv/bin/python -m bench.policy_decisions --json     # one JSON document
    .venv/bin/python -m bench.policy_decisions --quick    # a tenth of the samples
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from tests.sdk.conformance import CORPUS_DIR, conforms, load_cases, load_divergences, run_case

from corral_sdk.policy import (
    Activation,
    AppliesTo,
    CompiledExpression,
    Policy,
    PolicyEngine,
    PolicySet,
)
from corral_sdk.policy.engines.cel_cpp import CelCppEngine
from corral_sdk.policy.engines.cel_python import CelPythonEngine
from corral_sdk.policy.engines.cel_rust import CelRustEngine

ENGINES: dict[str, tuple[Callable[[], PolicyEngine], str, str]] = {
    "cel-cpp": (CelCppEngine, "cel-expr-python", "cel_expr_python.cel"),
    # The shipped engine as it runs without the `re2` extra: `matches()` compiles its pattern
    # on every evaluation.
    "cel-cpp-no-re2": (
        partial(CelCppEngine, precompile_regex=False),
        "cel-expr-python",
        "cel_expr_python.cel",
    ),
    "cel-rust": (CelRustEngine, "common-expression-language", "cel"),
    "cel-python": (CelPythonEngine, "cel-python", "celpy"),
}
# The pure-Python engine is two orders of magnitude slower; it gets fewer samples.
SAMPLE_SHARE = {"cel-cpp": 1.0, "cel-cpp-no-re2": 1.0, "cel-rust": 1.0, "cel-python": 0.05}
# The corpus divergences an engine is held to (the variant shares its engine's).
DIVERGENCES_OF = {"cel-cpp-no-re2": "cel-cpp"}


@dataclass
class Timing:
    """Latency percentiles of one measured operation, in microseconds."""

    samples: int
    p50_us: float
    p99_us: float


def _timing(samples_ns: list[int]) -> Timing:
    ordered = sorted(samples_ns)

    def percentile(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] / 1000, 2)

    return Timing(len(ordered), percentile(0.50), percentile(0.99))


@dataclass(frozen=True)
class Plan:
    """How much to measure: samples per measured call and rounds per measurement."""

    samples: int
    rounds: int


def _measure(operation: Callable[[], object], count: int, rounds: int) -> list[int]:
    # The round with the lowest median is kept, as `timeit` keeps its minimum: on a shared
    # machine the slower rounds measure the neighbours.
    operation()
    best: list[int] = []
    for _ in range(rounds):
        gc.collect()
        samples = []
        for _ in range(max(count, 1)):
            start = time.perf_counter_ns()
            operation()
            samples.append(time.perf_counter_ns() - start)
        samples.sort()
        if not best or samples[len(samples) // 2] < best[len(best) // 2]:
            best = samples
    return best


def _catalog() -> tuple[list[Policy], list[tuple[str, dict[str, Any]]]]:
    document = json.loads((CORPUS_DIR / "bench_policies.json").read_text(encoding="utf-8"))
    policies = [Policy(**raw) for raw in document["policies"]]
    calls = [(raw["name"], raw["attrs"]) for raw in document["calls"]]
    return policies, calls


def _import_seconds(module: str) -> float:
    script = (
        f"import time; s = time.perf_counter(); import {module}; print(time.perf_counter() - s)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return round(float(completed.stdout.strip()), 4)


def _engine_report(name: str, plan: Plan) -> dict[str, Any]:
    samples, rounds = plan.samples, plan.rounds
    factory, distribution, module = ENGINES[name]
    engine = factory()
    policies, calls = _catalog()
    compile_ns: list[int] = []
    for policy in policies:
        compile_ns += _measure(partial(engine.compile, policy.expression), samples // 50, rounds)
    pairs = [
        (engine.compile(policy.expression), policy.expression, call_name, attrs)
        for policy in policies
        for call_name, attrs in calls
        if AppliesTo(policy.applies_to).matches(call_name)
    ]
    plain_ns: list[int] = []
    regex_ns: list[int] = []

    def evaluator(
        program: CompiledExpression, call_name: str, attrs: dict[str, Any]
    ) -> Callable[[], object]:
        return lambda: engine.evaluate(program, Activation(call_name, attrs))

    for program, source, call_name, attrs in pairs:
        measured = _measure(evaluator(program, call_name, attrs), samples // 10, rounds)
        (regex_ns if ".matches(" in source else plain_ns).extend(measured)
    outcomes = {case.id: run_case(engine, case) for case in load_cases()}
    divergent = load_divergences()[DIVERGENCES_OF.get(name, name)]
    return {
        "engine": name,
        "library": f"{distribution} {metadata.version(distribution)}",
        "import_seconds": _import_seconds(module),
        "compile": vars(_timing(compile_ns)),
        "evaluate": vars(_timing(plain_ns + regex_ns)),
        "evaluate_without_regex": vars(_timing(plain_ns)),
        "evaluate_regex": vars(_timing(regex_ns)),
        "corpus_cases": len(outcomes),
        "corpus_conforming": sum(
            conforms(got, case.expect)
            for case, got in zip(load_cases(), outcomes.values(), strict=True)
        ),
        "corpus_divergences": sorted(divergent),
    }


def _decision_report(name: str, plan: Plan) -> dict[str, Any]:
    samples, rounds = plan.samples, plan.rounds
    policies, calls = _catalog()
    policy_set = PolicySet(policies, engine=ENGINES[name][0]())
    per_call = []
    everything: list[int] = []
    without_regex: list[int] = []
    for call_name, attrs in calls:
        decision = policy_set.decide(call_name, attrs)
        measured = _measure(partial(policy_set.decide, call_name, attrs), samples, rounds)
        candidates = policy_set.candidates(call_name)
        uses_regex = any(".matches(" in entry.policy.expression for entry in candidates)
        everything += measured
        if not uses_regex:
            without_regex += measured
        per_call.append(
            {
                "call": call_name,
                "candidates": len(candidates),
                "evaluated": decision.evaluated,
                "uses_regex": uses_regex,
                "action": decision.action.value,
                **vars(_timing(measured)),
            }
        )
    # Not a tool call and not a model call: only the policies without applies_to cover it.
    global_only = _measure(partial(policy_set.decide, "embeddings", {}), samples, rounds)
    return {
        "engine": name,
        "policies": len(policies),
        "all_calls": vars(_timing(everything)),
        "without_regex_calls": vars(_timing(without_regex)),
        "global_policies_only_call": vars(_timing(global_only)),
        "per_call": per_call,
    }


def _print(document: dict[str, Any]) -> None:
    env = document["environment"]
    print(f"python {env['python']} on {env['machine']}, {env['cpus']} CPUs")
    print("\nEngines (µs; evaluation includes building and converting the activation)")
    header = f"{'engine':<11}{'library':<34}{'import s':>9}{'compile p50/p99':>18}"
    print(header + f"{'eval p50/p99':>16}{'no-regex p50':>14}{'regex p50':>11}{'corpus':>9}")
    for row in document["engines"]:
        compile_, evaluate = row["compile"], row["evaluate"]
        print(
            f"{row['engine']:<11}{row['library']:<34}{row['import_seconds']:>9}"
            f"{compile_['p50_us']:>10}/{compile_['p99_us']:<7}"
            f"{evaluate['p50_us']:>8}/{evaluate['p99_us']:<7}"
            f"{row['evaluate_without_regex']['p50_us']:>14}{row['evaluate_regex']['p50_us']:>11}"
            f"{row['corpus_conforming']:>5}/{row['corpus_cases']}"
        )
        if row["corpus_divergences"]:
            print(f"{'':<11}diverges on: {', '.join(row['corpus_divergences'])}")
    for report in document["decisions"]:
        every, plain = report["all_calls"], report["without_regex_calls"]
        print(
            f"\nDecisions with {report['policies']} policies, {report['engine']} (µs): "
            f"all calls p50 {every['p50_us']} p99 {every['p99_us']}; "
            f"calls without regex policies p50 {plain['p50_us']} p99 {plain['p99_us']}; "
            f"a call only global policies cover p50 "
            f"{report['global_policies_only_call']['p50_us']}"
        )
        print(f"  {'call':<20}{'candidates':>11}{'evaluated':>10}{'regex':>7}{'p50':>9}{'p99':>9}")
        for row in report["per_call"]:
            print(
                f"  {row['call']:<20}{row['candidates']:>11}{row['evaluated']:>10}"
                f"{'yes' if row['uses_regex'] else 'no':>7}{row['p50_us']:>9}{row['p99_us']:>9}"
            )


def main() -> None:
    """Run every measurement and print the tables (or JSON)."""
    parser = argparse.ArgumentParser(description="CEL engines and policy decision latency.")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quick", action="store_true", help="a tenth of the samples")
    parser.add_argument("--samples", type=int, default=3000, help="samples per decided call")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the best one is kept")
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help="comma-separated engines to measure"
    )
    args = parser.parse_args()
    samples = args.samples // 10 if args.quick else args.samples
    names = [name for name in args.engines.split(",") if name]
    plans = {n: Plan(max(1, int(samples * SAMPLE_SHARE[n])), args.rounds) for n in names}
    document = {
        "environment": {
            "python": platform.python_version(),
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "cwd": str(Path.cwd()),
            "rounds_best_of": args.rounds,
        },
        "engines": [_engine_report(n, plans[n]) for n in names],
        "decisions": [_decision_report(n, plans[n]) for n in names],
    }
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        _print(document)


if __name__ == "__main__":
    main()

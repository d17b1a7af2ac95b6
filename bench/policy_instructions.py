"""Instructions per policy decision, counted by valgrind: a latency measure the machine's load
cannot move.

Wall-clock percentiles (`bench.policy_decisions`) move by 1.5× with the neighbours' load on a
shared machine. This counts the CPU instructions one `PolicySet.decide` executes, with the
50-policy catalog, for each catalog call. A baseline run under cachegrind decides every catalog
call `count` times; one more run per call decides that call `count` more times; the difference
divided by `count` is the cost of one warm decision of that call (interpreter start, imports and
compilation cancel out).

Run from the repository root:

    .venv/bin/python -m bench.policy_instructions                 # every call, text table
    .venv/bin/python -m bench.policy_instructions --json
    .venv/bin/python -m bench.policy_instructions --no-precompile # the engine's own matches()
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from typing import Any

from tests.sdk.conformance import CORPUS_DIR

from corral_sdk.policy import Policy, PolicySet
from corral_sdk.policy.engines.cel_cpp import CelCppEngine

_I_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def _catalog() -> tuple[list[Policy], list[tuple[str, dict[str, Any]]]]:
    document = json.loads((CORPUS_DIR / "bench_policies.json").read_text(encoding="utf-8"))
    policies = [Policy(**raw) for raw in document["policies"]]
    calls = [(raw["name"], raw["attrs"]) for raw in document["calls"]]
    return policies, calls


def _run_decisions(extra: str | None, count: int, precompile: bool) -> None:
    """The measured program: build the set, decide every call `count` times (warm), and the
    call `extra` `count` times more."""
    policies, calls = _catalog()
    policy_set = PolicySet(policies, engine=CelCppEngine(precompile_regex=precompile))
    decide = policy_set.decide
    for name, attrs in calls:
        decide(name, attrs)
    for _ in range(count):
        for name, attrs in calls:
            decide(name, attrs)
    for name, attrs in calls:
        if name == extra:
            for _ in range(count):
                decide(name, attrs)


def _instructions(extra: str | None, count: int, precompile: bool) -> int:
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "bench.policy_instructions",
        "--inner",
        "--count",
        str(count),
    ]
    if extra is not None:
        command += ["--extra", extra]
    if not precompile:
        command.append("--no-precompile")
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    found = _I_REFS.search(completed.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {completed.stderr}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    """Count instructions per decision for every catalog call (or run the measured loop)."""
    parser = argparse.ArgumentParser(description="Instructions per policy decision (valgrind).")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--count", type=int, default=200, help="decisions per call and run")
    parser.add_argument("--no-precompile", action="store_true", help="the engine's matches()")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--extra", help=argparse.SUPPRESS)
    args = parser.parse_args()
    precompile = not args.no_precompile
    if args.inner:
        _run_decisions(args.extra, args.count, precompile)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    _, calls = _catalog()
    baseline = _instructions(None, args.count, precompile)
    rows = [
        {
            "call": name,
            "instructions": round(
                (_instructions(name, args.count, precompile) - baseline) / args.count
            ),
        }
        for name, _ in calls
    ]
    mean = round(sum(row["instructions"] for row in rows) / len(rows))
    rows.append({"call": "mean over calls", "instructions": mean})
    document = {"precompiled_regex": precompile, "count": args.count, "calls": rows}
    if args.json:
        print(json.dumps(document, indent=2))
        return
    print(f"instructions per decision (precompiled regex: {precompile}, {args.count} decisions)")
    for row in rows:
        print(f"  {row['call']:<20}{row['instructions']:>12,}")


if __name__ == "__main__":
    main()

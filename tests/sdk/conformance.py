"""The conformance corpus under tests/sdk/corpus/: cases, expected outcomes and divergences."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from corral_sdk.policy import Activation, PolicyCompileError, PolicyEngine
from corral_sdk.policy.values import TOOL_ARGS_ATTR

CORPUS_DIR = Path(__file__).parent / "corpus"
COMPILE_ERROR = "compile_error"


@dataclass(frozen=True)
class Case:
    """One corpus case: an expression, the call it is evaluated on and the required outcome."""

    id: str
    category: str
    expression: str
    expect: str
    name: str
    attrs: dict[str, Any]
    now: datetime

    def activation(self) -> Activation:
        """A fresh activation for this case (engines cache conversions on it)."""
        return Activation(self.name, self.attrs, self.now)


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@cache
def load_cases() -> tuple[Case, ...]:
    """Every case of cases.json."""
    document = json.loads((CORPUS_DIR / "cases.json").read_text(encoding="utf-8"))
    cases = []
    for raw in document["cases"]:
        attrs = dict(raw.get("attrs", {}))
        if "args" in raw:
            attrs[TOOL_ARGS_ATTR] = json.dumps(raw["args"])
        if "raw_args" in raw:
            attrs[TOOL_ARGS_ATTR] = raw["raw_args"]
        cases.append(
            Case(
                id=raw["id"],
                category=raw["category"],
                expression=raw["expression"],
                expect=raw["expect"],
                name=raw["name"],
                attrs=attrs,
                now=_timestamp(raw.get("now", document["default_now"])),
            )
        )
    return tuple(cases)


@cache
def load_divergences() -> dict[str, dict[str, str]]:
    """Per engine name, the case ids where it departs from the corpus and what it returns."""
    document = json.loads((CORPUS_DIR / "divergences.json").read_text(encoding="utf-8"))
    return {
        engine: {case_id: entry["got"] for case_id, entry in cases.items()}
        for engine, cases in document["engines"].items()
    }


def run_case(engine: PolicyEngine, case: Case) -> str:
    """The outcome `engine` gives: match, no_match, error, or compile_error."""
    try:
        program = engine.compile(case.expression)
    except PolicyCompileError:
        return COMPILE_ERROR
    return engine.evaluate(program, case.activation()).outcome.value


def conforms(got: str, expect: str) -> bool:
    """Whether an outcome satisfies an expectation; `error` accepts a compile-time error."""
    if expect == "error":
        return got in {"error", COMPILE_ERROR}
    return got == expect

"""The interface every CEL implementation is used through, and the default choice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Protocol, runtime_checkable

from corral_sdk.policy.activation import Activation
from corral_sdk.policy.result import EvalResult


@dataclass(frozen=True, slots=True, eq=False)
class CompiledExpression:
    """A compiled policy expression; `handle` is the engine's own program object.

    `executed` is the text the engine compiled when it is not `source` (the cel-cpp adapter
    renames `matches` calls whose pattern it precompiled).
    """

    source: str
    engine: str
    handle: object
    executed: str | None = None


class PolicyEngine(Protocol):
    """Compiles CEL policy expressions and evaluates them to match / no match / error.

    `compile` raises `PolicyCompileError` (with line and column when the engine reports them).
    `evaluate` never raises: a failure, or a value that is not a bool, is an error result.
    Programs are immutable and may be evaluated from several threads at once.
    """

    @property
    def name(self) -> str:
        """A short stable name for reports (`cel-cpp`, `cel-rust`, `cel-python`)."""
        ...

    def compile(self, source: str) -> CompiledExpression:
        """Compile one expression, or raise `PolicyCompileError`."""
        ...

    def evaluate(self, program: CompiledExpression, activation: Activation) -> EvalResult:
        """Evaluate a program compiled by this engine against one activation."""
        ...


# A batch reports its matches as bits of one CEL int.
MAX_BATCH = 62


@runtime_checkable
class BatchingEngine(Protocol):
    """An engine that can also evaluate several programs in one call (optional).

    A batch gives only match or no match for each program, as a bit mask; when any program in
    it errs or is not a bool, it gives None and the caller evaluates the programs one by one,
    which gives each outcome and reason exactly. Every program in a batch is evaluated, so a
    batch only pays off when one call into the engine costs more than an expression.
    """

    def compile_batch(self, programs: Sequence[CompiledExpression]) -> object | None:
        """One program evaluating up to `MAX_BATCH` programs, or None when they cannot be
        combined."""
        ...

    def evaluate_batch(self, batch: object, activation: Activation) -> int | None:
        """Bit i set when program i matched; None when any program erred or was not a bool."""
        ...


@cache
def default_engine() -> PolicyEngine:
    """The engine chosen by measurement (docs/policy-engine.md), shared: cel-cpp."""
    # Imported here so that importing the policy package stays cheap for code that only builds
    # Policy values.
    from corral_sdk.policy.engines.cel_cpp import CelCppEngine

    return CelCppEngine()

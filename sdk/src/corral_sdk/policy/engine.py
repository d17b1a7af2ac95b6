"""The interface every CEL implementation is used through, and the default choice."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Protocol

from corral_sdk.policy.activation import Activation
from corral_sdk.policy.result import EvalResult


@dataclass(frozen=True, slots=True, eq=False)
class CompiledExpression:
    """A compiled policy expression; `handle` is the engine's own program object."""

    source: str
    engine: str
    handle: object


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


@cache
def default_engine() -> PolicyEngine:
    """The engine chosen by measurement (docs/policy-engine.md), shared: cel-cpp."""
    # Imported here so that importing the policy package stays cheap for code that only builds
    # Policy values.
    from corral_sdk.policy.engines.cel_cpp import CelCppEngine

    return CelCppEngine()

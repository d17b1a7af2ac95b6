"""`PolicyEngine` over common-expression-language, the Python binding of the Rust `cel` crate."""

from __future__ import annotations

from typing import Any

import cel

from corral_sdk.policy.activation import Activation
from corral_sdk.policy.engine import CompiledExpression
from corral_sdk.policy.errors import PolicyCompileError
from corral_sdk.policy.helpers import HELPERS
from corral_sdk.policy.result import MATCH, NO_MATCH, EvalResult, non_bool

ENGINE_NAME = "cel-rust"


class CelRustEngine:
    """Untyped CEL: the crate parses at compile time and resolves names when evaluating."""

    def __init__(self) -> None:
        self._functions = {helper.name: helper.impl for helper in HELPERS}

    @property
    def name(self) -> str:
        """The engine's report name."""
        return ENGINE_NAME

    def compile(self, source: str) -> CompiledExpression:
        """Parse; the crate has no type checker, so type errors surface when evaluating."""
        try:
            program = cel.compile(source)
        except (ValueError, RuntimeError) as exc:
            raise PolicyCompileError.from_engine_message(str(exc)) from None
        return CompiledExpression(source, ENGINE_NAME, program)

    def evaluate(self, program: CompiledExpression, activation: Activation) -> EvalResult:
        """Evaluate; the context is built once per call, since building it converts eagerly."""
        if program.engine != ENGINE_NAME:
            return EvalResult.error(f"program was compiled by {program.engine}, not {ENGINE_NAME}")
        compiled: Any = program.handle
        try:
            context = activation.bound.get(ENGINE_NAME)
            if context is None:
                context = cel.Context(
                    variables=activation.variables(), functions=dict(self._functions)
                )
                activation.bound[ENGINE_NAME] = context
            result = compiled.execute(context)
        # The binding raises KeyError, TypeError, ValueError or RuntimeError depending on the
        # failure; all of them are evaluation errors.
        except Exception as exc:  # noqa: BLE001
            return EvalResult.error(f"{type(exc).__name__}: {exc}")
        if result is True:
            return MATCH
        if result is False:
            return NO_MATCH
        return non_bool(result)

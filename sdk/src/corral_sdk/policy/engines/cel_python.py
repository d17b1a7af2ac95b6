"""`PolicyEngine` over cel-python (`celpy`), the pure-Python CEL implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError

from corral_sdk.policy.activation import Activation
from corral_sdk.policy.engine import CompiledExpression
from corral_sdk.policy.errors import PolicyCompileError
from corral_sdk.policy.helpers import HELPERS
from corral_sdk.policy.result import MATCH, NO_MATCH, EvalResult, non_bool

ENGINE_NAME = "cel-python"


def _to_cel(value: object) -> Any:
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    return value


def _wrap(impl: Callable[..., object]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        return _to_cel(impl(*args))

    return call


class CelPythonEngine:
    """cel-python with its interpreter.

    Its faster `CompiledRunner` transpiles to Python that names each custom function by module
    path, so helpers could only be registered by patching the library's module globals, and it
    keeps the current activation in those globals, which is unsafe across threads.
    """

    def __init__(self) -> None:
        self._env = celpy.Environment(runner_class=celpy.InterpretedRunner)
        self._functions: dict[str, Any] = {helper.name: _wrap(helper.impl) for helper in HELPERS}

    @property
    def name(self) -> str:
        """The engine's report name."""
        return ENGINE_NAME

    def compile(self, source: str) -> CompiledExpression:
        """Parse into a runner bound to the helper functions."""
        try:
            runner = self._env.program(self._env.compile(source), functions=self._functions)
        except CELParseError as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
            raise PolicyCompileError(
                f"syntax error near {message!r}", line=exc.line, column=exc.column
            ) from None
        return CompiledExpression(source, ENGINE_NAME, runner)

    def evaluate(self, program: CompiledExpression, activation: Activation) -> EvalResult:
        """Evaluate with the activation converted to cel-python's own value types."""
        if program.engine != ENGINE_NAME:
            return EvalResult.error(f"program was compiled by {program.engine}, not {ENGINE_NAME}")
        runner: Any = program.handle
        try:
            context = activation.bound.get(ENGINE_NAME)
            if context is None:
                context = {
                    name: celtypes.TimestampType(value) if name == "now" else json_to_cel(value)
                    for name, value in activation.variables().items()
                }
                activation.bound[ENGINE_NAME] = context
            result = runner.evaluate(context)
        # cel-python raises its own CELEvalError and, for some inputs, plain Python errors.
        except Exception as exc:  # noqa: BLE001
            return EvalResult.error(f"{type(exc).__name__}: {exc}")
        if isinstance(result, celtypes.BoolType):
            return MATCH if result else NO_MATCH
        if isinstance(result, Exception):
            return EvalResult.error(f"{type(result).__name__}: {result}")
        return non_bool(result)

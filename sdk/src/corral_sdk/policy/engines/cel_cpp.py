"""`PolicyEngine` over cel-expr-python, Google's CEL C++ implementation (the default engine)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from corral_sdk.policy.activation import Activation
from corral_sdk.policy.engine import MAX_BATCH, CompiledExpression
from corral_sdk.policy.engines import re2_patterns
from corral_sdk.policy.engines.regex_calls import RegexCall, rewrite
from corral_sdk.policy.errors import PolicyCompileError
from corral_sdk.policy.helpers import HELPERS
from corral_sdk.policy.result import MATCH, NO_MATCH, EvalResult, non_bool
from corral_sdk.policy.values import TOOL_ARGS_ATTR

# The library ships stubs without a py.typed marker; it is used through `Any` in this module only.
_cel: Any = importlib.import_module("cel_expr_python.cel")

ENGINE_NAME = "cel-cpp"
# Where the variables prepared for this engine (NULs replaced) are kept on an activation.
_VARIABLES_KEY = f"{ENGINE_NAME}/variables"

# cel-expr-python 0.1.3 ends a Python string at its first NUL when converting it, so
# "ls\x00; rm -rf /" would reach CEL as "ls" and slip past `contains("rm -rf")`. Every NUL is
# replaced by U+2400 (SYMBOL FOR NULL): one code point, so `size()` and everything after it in
# the string stay as the caller sent them.
_NUL = "\x00"
_NUL_STAND_IN = "\u2400"
_JSON_NUL = "\\u0000"


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return _NUL in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


def _activation_has_nul(activation: Activation) -> bool:
    # The hot path: one scan of the flat attributes, and of the raw arguments JSON, where a NUL
    # can only be written as the escape \u0000, instead of a walk of the parsed arguments.
    used = activation.used
    if "name" in used and _NUL in activation.name:
        return True
    if "attrs" in used:
        for key, value in activation.attrs.items():
            if _NUL in key:
                return True
            if type(value) is str:
                if _NUL in value:
                    return True
            elif isinstance(value, list | tuple | dict) and _has_nul(value):
                return True
    if "args" not in used:
        return False
    raw = activation.attrs.get(TOOL_ARGS_ATTR)
    if activation.args_from_attrs and isinstance(raw, str):
        return _JSON_NUL in raw
    return _has_nul(activation.args)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_NUL, _NUL_STAND_IN)
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(item) for item in value]
    return value


def _cel_type(python_type: type) -> Any:
    return {str: _cel.Type.STRING, bool: _cel.Type.BOOL}[python_type]


# The function a `matches` call with a literal pattern is rewritten to. Its name appears in
# error reasons only, where it is written back as `matches`.
PRECOMPILED_MATCHES = "corral_re2_matches"


def _precompiled_matches(table: re2_patterns.PatternTable) -> Any:
    string = _cel.Type.STRING
    overloads = [
        _cel.Overload(
            f"{PRECOMPILED_MATCHES}_{form}",
            _cel.Type.BOOL,
            [string, string],
            is_member=member,
            impl=table.search,
        )
        for form, member in (("member", True), ("global", False))
    ]
    return _cel.FunctionDecl(PRECOMPILED_MATCHES, overloads)


def _declarations() -> list[Any]:
    return [
        _cel.FunctionDecl(
            helper.name,
            [
                _cel.Overload(
                    f"{helper.name}_{'_'.join(t.__name__ for t in helper.params)}",
                    _cel_type(helper.returns),
                    [_cel_type(t) for t in helper.params],
                    impl=helper.impl,
                )
            ],
        )
        for helper in HELPERS
    ]


def _balanced_sum(terms: list[str]) -> str:
    # The parser refuses nesting deeper than 32; a balanced tree of additions nests
    # log2(terms) deep, where a chain `a + b + c …` would nest once per term.
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return f"({_balanced_sum(terms[:middle])} + {_balanced_sum(terms[middle:])})"


class CelCppEngine:
    """Type-checked CEL: `name` string, `attrs`/`args` maps of dyn, `now` timestamp.

    With `precompile_regex` (the default) and google-re2 installed, each `matches()` call whose
    pattern is a string literal RE2 accepts runs through that pattern compiled once
    (`re2_patterns`); other `matches()` calls, and every call without google-re2, run the
    engine's own, which compiles the pattern on each evaluation. The results are the same.
    """

    def __init__(self, *, precompile_regex: bool = True) -> None:
        dyn_map = _cel.Type.Map(_cel.Type.STRING, _cel.Type.DYN)
        functions = _declarations()
        self._patterns: re2_patterns.PatternTable | None = None
        if precompile_regex and re2_patterns.available():
            self._patterns = re2_patterns.PatternTable()
            functions.append(_precompiled_matches(self._patterns))
        self._env: Any = _cel.NewEnv(
            variables={
                "name": _cel.Type.STRING,
                "attrs": dyn_map,
                "args": dyn_map,
                "now": _cel.Type.TIMESTAMP,
            },
            functions=functions,
        )
        self._accepted_results = (_cel.Type.BOOL, _cel.Type.DYN)
        self._error_type: Any = _cel.Type.ERROR

    @property
    def name(self) -> str:
        """The engine's report name."""
        return ENGINE_NAME

    @property
    def precompiles_regex(self) -> bool:
        """Whether literal `matches()` patterns are compiled once (google-re2 is installed)."""
        return self._patterns is not None

    @property
    def patterns(self) -> re2_patterns.PatternTable | None:
        """The precompiled patterns, None when patterns are not precompiled."""
        return self._patterns

    def _literal_pattern(self, call: RegexCall) -> str | None:
        # The literal is decoded by CEL itself, so every escape means what CEL says it means.
        try:
            value = self._env.compile(call.pattern.text).eval().value()
        except RuntimeError:
            return None
        return value if isinstance(value, str) else None

    def _precompiled(self, source: str, checked: Any) -> tuple[Any, str | None]:
        """`checked` with its literal `matches()` patterns precompiled, when there are any,
        and the text compiled for that."""
        patterns = self._patterns
        if patterns is None or "matches" not in source:
            return checked, None

        def keep(call: RegexCall) -> bool:
            pattern = self._literal_pattern(call)
            # A pattern RE2 refuses stays with the engine's `matches`, which reports the error
            # in its own words on every evaluation.
            return pattern is not None and patterns.compile(pattern)

        rewritten, calls = rewrite(source, PRECOMPILED_MATCHES, keep)
        if not calls:
            return checked, None
        try:
            expression = self._env.compile(rewritten)
        except RuntimeError:
            return checked, None
        # The rewrite renames a function and nothing else, so the type cannot change; if it
        # did, the original program is the one to trust.
        if expression.return_type() != checked.return_type():
            return checked, None
        return expression, rewritten

    def compile(self, source: str) -> CompiledExpression:
        """Parse and type-check; an expression that can never be a bool is refused here."""
        try:
            expression = self._env.compile(source)
        except RuntimeError as exc:
            raise PolicyCompileError.from_engine_message(str(exc)) from None
        result_type = expression.return_type()
        if result_type not in self._accepted_results:
            returned = result_type.name().lower()
            raise PolicyCompileError(
                f"policy expression must return a bool, this one returns {returned}",
                line=1,
                column=1,
            )
        # Checked (and any error reported) on the source as written, so that positions point
        # into the author's text; then the literal regexes are precompiled.
        executable, executed = self._precompiled(source, expression)
        return CompiledExpression(source, ENGINE_NAME, executable, executed)

    def compile_batch(self, programs: Sequence[CompiledExpression]) -> object | None:
        """One program whose int value has bit i set when program i matched.

        Each expression becomes `(expr) ? 2^i : 0`, so an error or a non-bool anywhere makes
        the whole value an error and the caller falls back to evaluating one by one. Each
        expression sits on lines of its own so that a trailing `//` comment ends with it.
        """
        if not 1 <= len(programs) <= MAX_BATCH or any(
            program.engine != ENGINE_NAME for program in programs
        ):
            return None
        terms = [
            f"((\n{program.executed or program.source}\n) ? {1 << index} : 0)"
            for index, program in enumerate(programs)
        ]
        try:
            batch = self._env.compile(_balanced_sum(terms))
        except RuntimeError:
            return None
        return batch if batch.return_type() == _cel.Type.INT else None

    def evaluate_batch(self, batch: object, activation: Activation) -> int | None:
        """The match bits of a batch, or None when one of its programs did not give a bool."""
        expression: Any = batch
        try:
            bound = activation.bound.get(ENGINE_NAME)
            if bound is None:
                # A batch is usually the only evaluation of a call: evaluating on the plain
                # variables skips building a reusable activation (a third of the cost).
                result = expression.eval(None, self._variables(activation)).value()
            else:
                result = expression.eval(bound).value()
        except Exception:  # noqa: BLE001 - the one-by-one evaluation reports it
            return None
        return result if type(result) is int else None

    @staticmethod
    def _variables(activation: Activation) -> dict[str, Any]:
        found = activation.bound.get(_VARIABLES_KEY)
        if isinstance(found, dict):
            return found
        variables = activation.variables()
        if _activation_has_nul(activation):
            variables = _without_nul(variables)
        activation.bound[_VARIABLES_KEY] = variables
        return variables

    def _bind(self, activation: Activation) -> Any:
        bound = activation.bound.get(ENGINE_NAME)
        if bound is None:
            bound = self._env.Activation(data=self._variables(activation))
            activation.bound[ENGINE_NAME] = bound
        return bound

    def evaluate(self, program: CompiledExpression, activation: Activation) -> EvalResult:
        """Evaluate, converting the activation once per call and sharing it across policies."""
        if program.engine != ENGINE_NAME:
            return EvalResult.error(f"program was compiled by {program.engine}, not {ENGINE_NAME}")
        expression: Any = program.handle
        try:
            bound = activation.bound.get(ENGINE_NAME)
            if bound is None:
                bound = self._bind(activation)
            # Positional: pybind11 parses keyword arguments measurably slower.
            value = expression.eval(bound)
            result = value.value()
        # Values come from callers and span attributes; whatever the library raises for them is
        # an evaluation error, never a crash of the decision.
        except Exception as exc:  # noqa: BLE001
            reason = f"{type(exc).__name__}: {exc}".replace(PRECOMPILED_MATCHES, "matches")
            return EvalResult.error(reason)
        if result is True:
            return MATCH
        if result is False:
            return NO_MATCH
        result_type = value.type()
        if result_type == self._error_type:
            return EvalResult.error(str(result).replace(PRECOMPILED_MATCHES, "matches"))
        return non_bool(result)

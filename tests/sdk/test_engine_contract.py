"""What every engine adapter promises: positioned compile errors, bool-only results, no raising."""

from __future__ import annotations

import pytest

from corral_sdk.policy import Activation, Outcome, PolicyCompileError, default_engine
from tests.sdk.engines import ENGINE_NAMES, engine

CALL = Activation(
    "tool.shell", {"gen_ai.tool.name": "shell", "corral.tool.args": '{"n": 3, "m": {"k": 1}}'}
)


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_syntax_errors_carry_line_and_column(engine_name: str) -> None:
    with pytest.raises(PolicyCompileError) as raised:
        engine(engine_name).compile('name == "tool.shell" &&\n  args.n >')
    assert raised.value.line == 2
    assert raised.value.column is not None
    assert str(raised.value).startswith(f"2:{raised.value.column}: ")


def test_the_default_engine_points_at_the_offending_token() -> None:
    with pytest.raises(PolicyCompileError) as raised:
        default_engine().compile('args.command.contains("rm"')
    assert (raised.value.line, raised.value.column) == (1, 27)


def test_the_default_engine_type_checks_at_compile_time() -> None:
    with pytest.raises(PolicyCompileError, match="no matching overload"):
        default_engine().compile('name + 1 == "x"')
    with pytest.raises(PolicyCompileError, match="undeclared reference"):
        default_engine().compile("frobnicate(name)")


def test_the_default_engine_refuses_an_expression_that_cannot_be_a_bool() -> None:
    with pytest.raises(PolicyCompileError, match="must return a bool, this one returns string"):
        default_engine().compile("name")


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize(
    ("source", "type_name"),
    [("args.n", "int"), ('attrs["gen_ai.tool.name"]', "string"), ("args.m", "map")],
)
def test_a_non_bool_result_is_an_error(engine_name: str, source: str, type_name: str) -> None:
    chosen = engine(engine_name)
    result = chosen.evaluate(chosen.compile(source), CALL)
    assert result.outcome is Outcome.ERROR
    assert result.reason == f"policy expression must return a bool, got {type_name}"


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_evaluation_errors_are_results_with_a_reason(engine_name: str) -> None:
    chosen = engine(engine_name)
    result = chosen.evaluate(chosen.compile('attrs["corral.missing"] == 1'), CALL)
    assert result.outcome is Outcome.ERROR
    assert result.reason
    assert "missing" in result.reason


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_a_program_from_another_engine_is_an_error(engine_name: str) -> None:
    other = "cel-rust" if engine_name == "cel-cpp" else "cel-cpp"
    program = engine(other).compile("true")
    result = engine(engine_name).evaluate(program, CALL)
    assert result.outcome is Outcome.ERROR
    assert result.reason is not None
    assert other in result.reason


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_values_no_engine_can_convert_are_errors_not_exceptions(engine_name: str) -> None:
    chosen = engine(engine_name)
    odd = Activation("tool.x", {"weird": object()})
    result = chosen.evaluate(chosen.compile('attrs["weird"] == 1'), odd)
    assert result.outcome is Outcome.ERROR


def test_one_activation_is_converted_once_and_shared_across_programs() -> None:
    chosen = default_engine()
    call = Activation("tool.shell", {"gen_ai.tool.name": "shell"})
    first = chosen.compile('attrs["gen_ai.tool.name"] == "shell"')
    second = chosen.compile('name == "tool.shell"')
    assert chosen.evaluate(first, call).outcome is Outcome.MATCH
    bound = call.bound[chosen.name]
    assert chosen.evaluate(second, call).outcome is Outcome.MATCH
    assert call.bound[chosen.name] is bound

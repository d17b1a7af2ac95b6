"""Literal `matches()` patterns compiled once with google-re2 give the engine's own answers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral_sdk.policy import Activation, EvalResult, Outcome, PolicyCompileError
from corral_sdk.policy.engines import re2_patterns
from corral_sdk.policy.engines.cel_cpp import CelCppEngine
from tests.sdk.conformance import Case, conforms, load_cases, run_case

PRECOMPILED = CelCppEngine()
NATIVE = CelCppEngine(precompile_regex=False)

# RE2 syntax and its corners: flags, Unicode classes, anchors, empty matches, escapes CEL and
# RE2 both interpret, repetition limits. Invalid ones must stay errors with the engine's reason.
PATTERNS = (
    "",
    "a",
    "^a",
    "a$",
    "^$",
    "(?i)DROP\\s+TABLE",
    "rm\\s+-[a-zA-Z]*[rR][a-zA-Z]*f",
    "\\b\\d{3}-\\d{2}-\\d{4}\\b",
    "[[:alpha:]]+",
    "\\pL",
    "\\p{Greek}",
    "\\PL",
    "é",
    "^.$",
    "(?s)a.b",
    "a.b",
    "(?m)^b$",
    "\\Aa",
    "a\\z",
    "\\Q.*\\E",
    "a{,3}",
    "(?U)a+?",
    "(?P<name>a)b",
    "\\x{2400}",
    "\\C",
    "(abc|def){1,200}",
    "😀",
    "[^a]",
    "x*",
    "[",
    "(",
    "a{1001}",
    "\\Z",
    "(?<name>a)",
    "x*+",
    "\\8",
    "(a{100}){100}",
)
TEXTS = ("", "a", "A", "b", "ab", "a\nb", "aXb", "é", "É", "λ", "😀", "a\x00b", "x" * 300)


def _activation(text: str) -> Activation:
    return Activation("tool.x", {"corral.tool.args": json.dumps({"s": text, "n": 1})})


def _cel_string(pattern: str) -> str:
    return json.dumps(pattern, ensure_ascii=False)


def test_google_re2_is_installed_for_the_tests() -> None:
    assert re2_patterns.available()
    assert PRECOMPILED.precompiles_regex
    assert not NATIVE.precompiles_regex
    assert NATIVE.patterns is None


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("form", ["args.s.matches({})", "matches(args.s, {})"])
def test_precompiled_agrees_with_the_engine(pattern: str, form: str) -> None:
    source = form.format(_cel_string(pattern))
    ours, theirs = PRECOMPILED.compile(source), NATIVE.compile(source)
    table = PRECOMPILED.patterns
    assert table is not None
    for text in TEXTS:
        got = PRECOMPILED.evaluate(ours, _activation(text))
        expected = NATIVE.evaluate(theirs, _activation(text))
        assert got == expected, (pattern, text)
    if NATIVE.evaluate(theirs, _activation("a")).outcome is Outcome.ERROR:
        # Never precompiled: the engine reports the invalid pattern on each evaluation.
        assert pattern not in table
    else:
        assert pattern in table


def test_an_invalid_pattern_fails_closed_with_the_engines_reason() -> None:
    program = PRECOMPILED.compile('args.s.matches("a(")')
    result = PRECOMPILED.evaluate(program, _activation("a("))
    assert result.outcome is Outcome.ERROR
    assert result.reason is not None
    assert "invalid regular expression" in result.reason
    assert "missing )" in result.reason


def test_a_pattern_that_is_not_a_literal_runs_in_the_engine() -> None:
    source = 'args.s.matches(args.p) && matches(args.s, "^" + args.p)'
    program = PRECOMPILED.compile(source)
    call = Activation("tool.x", {"corral.tool.args": json.dumps({"s": "abc", "p": "a"})})
    assert PRECOMPILED.evaluate(program, call).outcome is Outcome.MATCH
    bad = Activation("tool.x", {"corral.tool.args": json.dumps({"s": "abc", "p": "["})})
    assert PRECOMPILED.evaluate(program, bad).outcome is Outcome.ERROR


def test_errors_name_matches_not_the_precompiled_function() -> None:
    source = 'args.n.matches("a")'
    got = PRECOMPILED.evaluate(PRECOMPILED.compile(source), _activation("a"))
    expected = NATIVE.evaluate(NATIVE.compile(source), _activation("a"))
    assert got == expected
    assert got.reason is not None
    assert ".matches(string)" in got.reason


def test_errors_keep_the_position_in_the_source_as_written() -> None:
    source = 'args.s.matches("a") && args.s.matches("b") + 1'
    with pytest.raises(PolicyCompileError) as precompiled_error:
        PRECOMPILED.compile(source)
    with pytest.raises(PolicyCompileError) as native_error:
        NATIVE.compile(source)
    got, expected = precompiled_error.value, native_error.value
    assert (got.message, got.line, got.column) == (expected.message, expected.line, expected.column)


def test_the_literal_is_decoded_by_cel() -> None:
    # "\x41" is CEL's escape for "A"; a raw string keeps the backslash for RE2.
    program = PRECOMPILED.compile('args.s.matches("\\x41") && args.s.matches(r"\\x41")')
    assert PRECOMPILED.evaluate(program, _activation("A")) == EvalResult(Outcome.MATCH)
    table = PRECOMPILED.patterns
    assert table is not None
    assert "A" in table
    assert "\\x41" in table


def test_a_cleared_table_compiles_the_pattern_again() -> None:
    engine = CelCppEngine()
    program = engine.compile('args.s.matches("^a")')
    table = engine.patterns
    assert table is not None
    table.clear()
    assert "^a" not in table
    assert engine.evaluate(program, _activation("ab")).outcome is Outcome.MATCH
    assert "^a" in table


@pytest.mark.parametrize("case", load_cases(), ids=[case.id for case in load_cases()])
def test_the_engine_without_precompilation_conforms(case: Case) -> None:
    assert conforms(run_case(NATIVE, case), case.expect)


PROGRAMS = [
    (
        PRECOMPILED.compile(f"args.s.matches({_cel_string(p)})"),
        NATIVE.compile(f"args.s.matches({_cel_string(p)})"),
    )
    for p in PATTERNS
]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=20))
def test_generated_texts_get_the_same_answer(text: str) -> None:
    for ours, theirs in PROGRAMS:
        call = _activation(text)
        assert PRECOMPILED.evaluate(ours, call) == NATIVE.evaluate(theirs, call), text

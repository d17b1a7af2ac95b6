"""Finding the `matches()` calls whose pattern is a string literal, on tokens."""

from __future__ import annotations

import pytest

from corral_sdk.policy.engines.regex_calls import TokenKind, regex_calls, rewrite, tokenize


def _patterns(source: str) -> list[str]:
    tokens = tokenize(source)
    assert tokens is not None
    return [call.pattern.text for call in regex_calls(tokens)]


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ('args.q.matches("a+")', ['"a+"']),
        ("args.q.matches('a+')", ["'a+'"]),
        ('args.q . matches ( "a+" )', ['"a+"']),
        ('matches(args.q, "a+")', ['"a+"']),
        ('matches(f(args.q, "x"), "a+")', ['"a+"']),
        ('args.q.matches(r"\\d+")', ['r"\\d+"']),
        ('args.q.matches("""a"b""")', ['"""a"b"""']),
        ("args.q.matches(R'''x''')", ["R'''x'''"]),
        ('lower(args.q).matches("(?i)a") || args.r.matches("b")', ['"(?i)a"', '"b"']),
        ('args.list.exists(x, x.matches("a\\\\("))', ['"a\\\\("']),
    ],
)
def test_literal_patterns_are_found(source: str, found: list[str]) -> None:
    assert _patterns(source) == found


@pytest.mark.parametrize(
    "source",
    [
        "args.q.matches(args.p)",
        'args.q.matches("a" + "b")',
        'args.q.matches(b"a")',
        "matches(args.q, args.p)",
        'matches("a+")',
        'args.matches == "x"',
        '"x.matches(\\"a\\")" == args.q',
        'args.q == "a" // .matches("a")',
        "args.q.contains('.matches(\"a\")')",
        'args.q.matches("a", "b")',
        'args.q.matches(("a"))',
    ],
)
def test_other_calls_and_lookalikes_are_left_alone(source: str) -> None:
    assert _patterns(source) == []


def test_string_literals_and_comments_are_single_tokens() -> None:
    tokens = tokenize('a.b("x//y") // c.matches("z")\n+ r\'\\\' + b"q"')
    assert tokens is not None
    kinds = [(token.kind, token.text) for token in tokens]
    assert (TokenKind.STRING, '"x//y"') in kinds
    assert (TokenKind.STRING, "r'\\'") in kinds
    assert (TokenKind.BYTES, 'b"q"') in kinds
    assert all(token.text != "matches" for token in tokens)


def test_an_unterminated_string_is_not_read() -> None:
    assert tokenize('args.q.matches("a') is None
    assert rewrite('args.q.matches("a', "f", lambda _call: True) == ('args.q.matches("a', [])


def test_rewrite_renames_only_the_calls_it_keeps() -> None:
    source = 'a.matches("x") && matches(b, "y") && c.matches("x")'
    rewritten, calls = rewrite(source, "fast", lambda call: call.pattern.text == '"x"')
    assert rewritten == 'a.fast("x") && matches(b, "y") && c.fast("x")'
    assert len(calls) == 2

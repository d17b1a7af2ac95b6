"""Find the `matches()` calls of a CEL expression whose pattern is a string literal.

The cel-cpp adapter rewrites those calls to a function backed by a pattern compiled once
(`re2_patterns`), because cel-expr-python compiles the pattern again on every evaluation. The
rewrite works on tokens, not characters, so that text inside string literals and comments is
never touched: `args.q.matches("x") // .matches("y")` has one call site, not two.

Both forms are found: the receiver form `text.matches("p")` and the global form
`matches(text, "p")`. A pattern that is anything but a single string literal (a variable, a
concatenation, a bytes literal) is left to the engine's own `matches`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class TokenKind(Enum):
    """The token classes the rewrite needs to tell apart."""

    STRING = "string"
    BYTES = "bytes"
    IDENT = "ident"
    PUNCT = "punct"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its class, its text, and where it starts in the source."""

    kind: TokenKind
    text: str
    start: int


# CEL string literals (cel-spec, "Lexical elements"): an optional raw and/or bytes prefix, then
# one of four quotings. A raw literal has no escapes; the others escape any character with `\`.
_STRING = re.compile(
    r"""(?P<prefix>[rRbB]{0,2})(?:
        \"\"\"(?:\\.|[^\\])*?\"\"\"
      | '''(?:\\.|[^\\])*?'''
      | "(?:\\.|[^\\"\n\r])*"
      | '(?:\\.|[^\\'\n\r])*'
    )""",
    re.VERBOSE | re.DOTALL,
)
_RAW_STRING = re.compile(
    r"""(?P<prefix>[rRbB]{1,2})(?:
        \"\"\"(?:.)*?\"\"\"
      | '''(?:.)*?'''
      | "[^"\n\r]*"
      | '[^'\n\r]*'
    )""",
    re.VERBOSE | re.DOTALL,
)
_SPACE = re.compile(r"(?:[ \t\n\f\r]+|//[^\n\r]*)+")
_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_NUMBER = re.compile(r"[0-9][0-9a-zA-Z_]*(?:\.[0-9][0-9a-zA-Z_]*)?")
_PUNCT = frozenset(".(),[]{}")
MATCHES = "matches"


def _valid_prefix(prefix: str) -> bool:
    lowered = prefix.lower()
    return lowered in {"", "r", "b", "rb", "br"}


def _string_at(source: str, position: int) -> Token | None:
    for pattern in (_RAW_STRING, _STRING):
        found = pattern.match(source, position)
        if found is None:
            continue
        prefix = found.group("prefix")
        raw = "r" in prefix.lower()
        if (pattern is _RAW_STRING) != raw or not _valid_prefix(prefix):
            continue
        kind = TokenKind.BYTES if "b" in prefix.lower() else TokenKind.STRING
        return Token(kind, found.group(0), position)
    return None


def tokenize(source: str) -> list[Token] | None:
    """The tokens of `source` without spaces and comments; None when it cannot be read."""
    tokens: list[Token] = []
    position = 0
    while position < len(source):
        space = _SPACE.match(source, position)
        if space is not None:
            position = space.end()
            continue
        char = source[position]
        if char in "\"'rRbB":
            literal = _string_at(source, position)
            if literal is not None:
                tokens.append(literal)
                position += len(literal.text)
                continue
            if char in "\"'":
                # An unterminated string: the engine reports it; nothing is rewritten.
                return None
        for pattern, kind in ((_IDENT, TokenKind.IDENT), (_NUMBER, TokenKind.OTHER)):
            found = pattern.match(source, position)
            if found is not None:
                tokens.append(Token(kind, found.group(0), position))
                position = found.end()
                break
        else:
            kind = TokenKind.PUNCT if char in _PUNCT else TokenKind.OTHER
            tokens.append(Token(kind, char, position))
            position += 1
    return tokens


@dataclass(frozen=True, slots=True)
class RegexCall:
    """One `matches` call with a literal pattern: the name token and the pattern literal."""

    name: Token
    pattern: Token


def _closing(tokens: list[Token], opening: int) -> tuple[int, int | None] | None:
    """The index of the parenthesis closing `tokens[opening]`, and of its last top-level comma."""
    depth = 0
    comma: int | None = None
    for index in range(opening, len(tokens)):
        token = tokens[index]
        if token.kind is not TokenKind.PUNCT:
            continue
        if token.text in "([{":
            depth += 1
        elif token.text in ")]}":
            depth -= 1
            if depth == 0:
                return index, comma
        elif token.text == "," and depth == 1:
            comma = index
    return None


def regex_calls(tokens: list[Token]) -> list[RegexCall]:
    """Every `matches` call of the token list whose pattern argument is one string literal."""
    calls: list[RegexCall] = []
    for index, token in enumerate(tokens):
        if token.kind is not TokenKind.IDENT or token.text != MATCHES:
            continue
        if index + 1 >= len(tokens) or tokens[index + 1].text != "(":
            continue
        closing = _closing(tokens, index + 1)
        if closing is None:
            continue
        end, comma = closing
        member = index > 0 and tokens[index - 1].text == "."
        if member:
            # text.matches("p"): exactly one argument, the literal.
            if end != index + 3:
                continue
            literal = tokens[index + 2]
        else:
            # matches(text, "p"): the literal is the whole last argument.
            if comma is None or end != comma + 2:
                continue
            literal = tokens[comma + 1]
        if literal.kind is TokenKind.STRING:
            calls.append(RegexCall(token, literal))
    return calls


def rewrite(
    source: str, replacement: str, keep: Callable[[RegexCall], bool]
) -> tuple[str, list[RegexCall]]:
    """`source` with the name of every literal-pattern `matches` call that `keep` accepts
    replaced by `replacement`, and the calls replaced."""
    tokens = tokenize(source)
    if tokens is None:
        return source, []
    chosen = [call for call in regex_calls(tokens) if keep(call)]
    pieces: list[str] = []
    position = 0
    for call in chosen:
        pieces.append(source[position : call.name.start])
        pieces.append(replacement)
        position = call.name.start + len(call.name.text)
    pieces.append(source[position:])
    return "".join(pieces), chosen

"""Typed boundary around google-re2, the linear-time engine all redaction patterns run on.

RE2 has no backtracking, so a hostile attribute value cannot make a scan take exponential time;
it also rejects backreferences and lookaround at compile time, which keeps every pattern in the
linear-time subset. `google-re2` ships without type information, hence this wrapper.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, cast

import re2  # type: ignore[import-untyped]

ENGINE: Any = re2
"""The module doing the matching, exposed so tests can assert which engine runs."""

# Room for the DFA of the combined pattern set on long values; RE2 treats it as a budget.
_MAX_MEM = 64 << 20


class Match(Protocol):
    def start(self, group: int = ..., /) -> int: ...
    def end(self, group: int = ..., /) -> int: ...


class Pattern(Protocol):
    def finditer(self, text: str, /) -> Iterator[Match]: ...


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _MAX_MEM
    return options


def compile_pattern(pattern: str) -> Pattern:
    """Compile with RE2; raises `ValueError` for syntax RE2 refuses (e.g. backreferences)."""
    try:
        return cast(Pattern, re2.compile(pattern, _options()))
    except re2.error as exc:
        raise ValueError(f"pattern {pattern!r} is not valid RE2: {exc}") from None


class PatternSet:
    """Many patterns searched in one pass; reports which of them occur somewhere in a text."""

    def __init__(self, patterns: list[str]) -> None:
        self._set = re2.Set.SearchSet(_options())
        for pattern in patterns:
            try:
                self._set.Add(pattern)
            except re2.error as exc:
                raise ValueError(f"pattern {pattern!r} is not valid RE2: {exc}") from None
        self._set.Compile()
        self._empty = not patterns

    def matching(self, text: str) -> list[int]:
        """Indices (in insertion order) of the patterns that match somewhere in `text`."""
        if self._empty:
            return []
        return cast(list[int], self._set.Match(text))

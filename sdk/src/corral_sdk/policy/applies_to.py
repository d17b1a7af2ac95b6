"""Which calls a policy applies to, by dot-separated segments of the call name.

A pattern is a dot-separated list of segments. A literal segment must equal the call name's
segment; `*` matches exactly one segment, and as the last segment it matches one or more, so
`tool.*` covers `tool.shell` and `tool.github.create_issue`, `*` covers every call, and
`tool.shell` covers only `tool.shell`. A policy applies when any of its patterns matches.
"""

from __future__ import annotations

from collections.abc import Sequence

WILDCARD = "*"


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is not a valid applies_to pattern, or None when it is."""
    if not pattern or pattern != pattern.strip():
        return f"{pattern!r} must be non-empty and have no surrounding spaces"
    for segment in pattern.split("."):
        if not segment:
            return f"{pattern!r} has an empty segment"
        if WILDCARD in segment and segment != WILDCARD:
            return f"{pattern!r}: `*` must be a whole segment"
    return None


class AppliesTo:
    """A compiled set of applies_to patterns."""

    __slots__ = ("_patterns",)

    def __init__(self, patterns: Sequence[str]) -> None:
        self._patterns = tuple(tuple(pattern.split(".")) for pattern in patterns)

    @property
    def everything(self) -> bool:
        """Whether the set matches every call name."""
        return not self._patterns or any(p == (WILDCARD,) for p in self._patterns)

    def matches(self, name: str) -> bool:
        """Whether a call with this name is covered."""
        if self.everything:
            return True
        segments = name.split(".")
        return any(_matches(pattern, segments) for pattern in self._patterns)


def _matches(pattern: tuple[str, ...], segments: list[str]) -> bool:
    last = len(pattern) - 1
    for index, expected in enumerate(pattern):
        if index >= len(segments):
            return False
        if expected == WILDCARD:
            if index == last:
                return True
            continue
        if expected != segments[index]:
            return False
    return len(segments) == len(pattern)

"""Set relations between `applies_to` pattern lists: does one cover, or meet, another?

Semantics are those of `corral_sdk.policy.applies_to`: a pattern is dot-separated segments; a
literal segment equals the name's segment; `*` matches one segment, and as the last segment one
or more; an empty list, or one containing `*`, covers every call name.

Both relations are exact. `covers(outer, inner)` compares pattern by pattern, which is enough
because segment values are unbounded: a name can always be built with a segment no pattern
spells out. If no single outer pattern covers an inner pattern `q`, take the name `q` matches
with fresh segments at each of its wildcards (and, when `q` ends in `*`, one fresh segment more
than any outer pattern is long): every outer pattern that matches it must have `*` at those
positions and agree with `q`'s literals, so it would have covered `q`.
"""

from __future__ import annotations

from collections.abc import Sequence

from corral_sdk.policy.applies_to import WILDCARD, pattern_problem

_Pattern = tuple[str, ...]
_EVERYTHING: tuple[_Pattern, ...] = ((WILDCARD,),)


def effective_patterns(patterns: Sequence[str]) -> tuple[str, ...]:
    """The patterns a policy set enforces: invalid ones are dropped, as `compile_policy` does.

    (So a policy whose every pattern is invalid applies to every call; it is also reported
    invalid.)
    """
    return tuple(p for p in patterns if isinstance(p, str) and pattern_problem(p) is None)


def _parse(patterns: Sequence[str]) -> tuple[_Pattern, ...]:
    parsed = tuple(tuple(pattern.split(".")) for pattern in effective_patterns(patterns))
    if not parsed or (WILDCARD,) in parsed:
        return _EVERYTHING
    return parsed


def _has_tail(pattern: _Pattern) -> bool:
    return pattern[-1] == WILDCARD


def _pattern_covers(outer: _Pattern, inner: _Pattern) -> bool:
    if _has_tail(outer):
        # `outer` needs at least len(outer) segments, constrained before its tail.
        if len(inner) < len(outer):
            return False
        return all(o in (WILDCARD, i) for o, i in zip(outer[:-1], inner, strict=False))
    if _has_tail(inner) or len(inner) != len(outer):
        return False
    return all(o in (WILDCARD, i) for o, i in zip(outer, inner, strict=True))


def _pattern_overlaps(first: _Pattern, second: _Pattern) -> bool:
    first_tail, second_tail = _has_tail(first), _has_tail(second)
    if not first_tail and not second_tail and len(first) != len(second):
        return False
    if first_tail and not second_tail and len(second) < len(first):
        return False
    if second_tail and not first_tail and len(first) < len(second):
        return False
    fixed_first = first[:-1] if first_tail else first
    fixed_second = second[:-1] if second_tail else second
    return all(
        a in (WILDCARD, b) or b == WILDCARD for a, b in zip(fixed_first, fixed_second, strict=False)
    )


def covers(outer: Sequence[str], inner: Sequence[str]) -> bool:
    """Whether every call name `inner` applies to is also one `outer` applies to."""
    outer_patterns = _parse(outer)
    if outer_patterns is _EVERYTHING:
        return True
    return all(any(_pattern_covers(o, i) for o in outer_patterns) for i in _parse(inner))


def overlaps(first: Sequence[str], second: Sequence[str]) -> bool:
    """Whether some call name is covered by both pattern lists."""
    return any(_pattern_overlaps(a, b) for a in _parse(first) for b in _parse(second))


def same_coverage(first: Sequence[str], second: Sequence[str]) -> bool:
    """Whether both lists apply to exactly the same call names."""
    return covers(first, second) and covers(second, first)

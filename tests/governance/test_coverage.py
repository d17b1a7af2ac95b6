"""`covers` and `overlaps` against brute force over the engine's own `AppliesTo` matching."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.governance.coverage import covers, overlaps, same_coverage
from corral_sdk.policy import AppliesTo

LITERALS = ("tool", "a", "b")
# A segment no pattern spells out: names built with it reach every wildcard.
FRESH = "zz"
MAX_PATTERN_SEGMENTS = 4
# Patterns have at most 4 segments, so a name that separates two pattern lists exists with at
# most 5 (coverage.py's module docstring gives the argument); checking all of them is exact.
NAMES = [
    ".".join(segments)
    for length in range(1, MAX_PATTERN_SEGMENTS + 2)
    for segments in itertools.product((*LITERALS, FRESH), repeat=length)
]

patterns = st.lists(
    st.sampled_from((*LITERALS, "*")), min_size=1, max_size=MAX_PATTERN_SEGMENTS
).map(".".join)
pattern_lists = st.lists(patterns, max_size=3)


def _names(applies_to: list[str]) -> set[str]:
    matcher = AppliesTo(applies_to)
    return {name for name in NAMES if matcher.matches(name)}


@settings(max_examples=400, deadline=None)
@given(outer=pattern_lists, inner=pattern_lists)
def test_covers_is_exactly_inclusion_of_matched_names(outer: list[str], inner: list[str]) -> None:
    assert covers(outer, inner) == (_names(inner) <= _names(outer))


@settings(max_examples=400, deadline=None)
@given(first=pattern_lists, second=pattern_lists)
def test_overlaps_is_exactly_a_shared_name(first: list[str], second: list[str]) -> None:
    assert overlaps(first, second) == bool(_names(first) & _names(second))


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ([], ["tool.shell"], True),
        (["*"], [], True),
        (["tool.*"], [], False),
        (["tool.*"], ["tool.shell", "tool.github.create_issue", "tool.*.x"], True),
        (["tool.*"], ["tool"], False),
        (["tool.shell"], ["tool.*"], False),
        (["tool.*.x"], ["tool.a.x"], True),
        (["tool.*.x"], ["tool.*"], False),
        (["tool.a.*"], ["tool.*.b"], False),
        (["*.*"], ["tool.*"], True),
        (["tool.sh*"], ["tool.shell"], True),  # invalid patterns are dropped: applies to all
    ],
)
def test_covers_examples(outer: list[str], inner: list[str], expected: bool) -> None:
    assert covers(outer, inner) is expected


def test_same_coverage_ignores_spelling() -> None:
    assert same_coverage([], ["*"])
    assert same_coverage(["tool.*", "tool.shell"], ["tool.*"])
    assert not same_coverage(["tool.*"], ["tool.*.*"])

"""The one-search prescan of a span's attributes never misses what the per-value scan finds."""

from __future__ import annotations

from collections import Counter

import pytest

from corral.telemetry.records import Attributes
from corral.telemetry.redact import ALL_DETECTORS, RedactionSettings, Redactor
from tests.telemetry.redaction_cases import CASES

EVERYTHING = Redactor(
    RedactionSettings(pii_entities=frozenset(d.id for d in ALL_DETECTORS if d.kind == "pii"))
)
NEIGHBOURS = ("a plain neighbouring value", "x1", "another value, then a comma")


def _per_value(attrs: Attributes) -> tuple[Attributes, Counter[str]]:
    counts: Counter[str] = Counter()
    out: Attributes = {}
    for key, value in attrs.items():
        assert isinstance(value, str)
        out[key] = EVERYTHING.redact_text(value, counts)
    return out, counts


@pytest.mark.parametrize("detector_id", sorted(CASES))
@pytest.mark.parametrize("shape", ["whole value", "among others", "first", "last"])
def test_a_secret_is_found_wherever_it_sits(detector_id: str, shape: str) -> None:
    text, secret, _ = CASES[detector_id]
    value = secret if shape == "whole value" else text
    before, after = list(NEIGHBOURS[:2]), [NEIGHBOURS[2]]
    if shape == "first":
        before = []
    elif shape == "last":
        after = []
    attrs: Attributes = {f"k{i}": v for i, v in enumerate([*before, value, *after])}
    counts: Counter[str] = Counter()
    redacted = EVERYTHING.redact_attributes(attrs, counts)
    assert (redacted, counts) == _per_value(attrs)
    if shape != "whole value":
        assert counts[detector_id] >= 1


def test_clean_attributes_come_back_unchanged() -> None:
    attrs: Attributes = {"gen_ai.request.model": "gpt-4o", "n": 3, "text": "nothing secret here"}
    counts: Counter[str] = Counter()
    assert EVERYTHING.redact_attributes(attrs, counts) == attrs
    assert not counts

"""Sampling: deterministic per trace id, proportional to the rate, never drops evidence."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.telemetry.sampling import keep, trace_kept

trace_ids = st.binary(min_size=16, max_size=16).map(bytes.hex)
rates = st.floats(min_value=0.0, max_value=1.0)


def _keep(trace_id: str, rate: float, **overrides: object) -> bool:
    flags: dict[str, object] = {
        "has_error": False,
        "has_decision": False,
        "total_tokens": None,
        "token_threshold": None,
    }
    flags.update(overrides)
    return keep(trace_id, rate, **flags)  # type: ignore[arg-type]


@given(trace_ids, rates)
def test_same_trace_same_answer(trace_id: str, rate: float) -> None:
    assert _keep(trace_id, rate) == _keep(trace_id, rate) == _keep(trace_id.upper(), rate)


@given(trace_ids, rates)
def test_only_the_low_64_bits_decide(trace_id: str, rate: float) -> None:
    other_high_half = ("f" * 16 if trace_id[0] != "f" else "0" * 16) + trace_id[16:]
    assert trace_kept(trace_id, rate) == trace_kept(other_high_half, rate)


@given(trace_ids, rates, rates)
def test_a_trace_kept_at_a_rate_is_kept_at_any_higher_rate(
    trace_id: str, low: float, high: float
) -> None:
    low, high = sorted((low, high))
    if trace_kept(trace_id, low):
        assert trace_kept(trace_id, high)


@given(trace_ids)
def test_extremes(trace_id: str) -> None:
    assert _keep(trace_id, 1.0) is True
    assert _keep(trace_id, 0.0) is False


def test_kept_fraction_follows_the_rate() -> None:
    ids = [hashlib.sha256(str(n).encode()).hexdigest()[:32] for n in range(20_000)]
    for rate in (0.01, 0.25, 0.5, 0.9):
        kept = sum(trace_kept(t, rate) for t in ids) / len(ids)
        assert abs(kept - rate) < 0.02, (rate, kept)


def test_low_bits_boundary() -> None:
    assert trace_kept("0" * 31 + "1", 1e-12) is True
    assert trace_kept("0" * 16 + "8" + "0" * 15, 0.5) is False
    assert trace_kept("0" * 16 + "7" + "f" * 15, 0.5) is True


@given(trace_ids)
def test_evidence_is_never_dropped(trace_id: str) -> None:
    assert _keep(trace_id, 0.0, has_error=True)
    assert _keep(trace_id, 0.0, has_decision=True)
    assert _keep(trace_id, 0.0, total_tokens=5001, token_threshold=5000)


def test_token_threshold_is_strictly_above() -> None:
    trace_id = "0" * 16 + "f" * 16
    assert not _keep(trace_id, 0.5, total_tokens=5000, token_threshold=5000)
    assert not _keep(trace_id, 0.5, total_tokens=None, token_threshold=5000)
    assert not _keep(trace_id, 0.5, total_tokens=10**9, token_threshold=None)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        trace_kept("0" * 32, float("nan"))
    with pytest.raises(ValueError, match="32 hex"):
        trace_kept("abc", 0.5)
    assert trace_kept("abc", 1.0) is True

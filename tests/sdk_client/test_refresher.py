"""The refresh schedule: jittered interval, exponential backoff while the server fails."""

from __future__ import annotations

from corral_sdk.refresher import next_delay


def test_the_delay_is_the_interval_with_jitter() -> None:
    assert next_delay(5.0, 0, 60.0, 0.0) == 5.0
    assert next_delay(5.0, 0, 60.0, 1.0) == 6.0
    assert next_delay(5.0, 0, 60.0, -1.0) == 4.0


def test_failures_back_off_exponentially_up_to_a_bound() -> None:
    assert [next_delay(5.0, n, 60.0, 0.0) for n in range(6)] == [5, 10, 20, 40, 60, 60]
    # An interval longer than the bound is never shortened by failures.
    assert next_delay(3600.0, 3, 60.0, 0.0) == 3600.0
    assert next_delay(0.01, 100, 60.0, 0.0) == 2.56

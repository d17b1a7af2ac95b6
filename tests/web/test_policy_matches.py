"""Match counts stop at a cap and say so."""

from __future__ import annotations

from corral.web.policy_matches import MATCH_CAP, Count


def test_a_count_past_the_cap_reads_as_the_cap_and_more() -> None:
    assert str(Count(12)) == "12"
    assert str(Count(MATCH_CAP)) == "1,000"
    assert str(Count(MATCH_CAP + 1)) == "1,000+"

"""Time-ordered ids: `earliest_id` bounds the ids made from a moment on."""

from __future__ import annotations

from datetime import timedelta

from corral.core.clock import utcnow
from corral.core.ids import earliest_id, is_well_formed, new_id


def test_earliest_id_separates_ids_made_before_and_after() -> None:
    before = new_id("dec")
    moment = utcnow() + timedelta(milliseconds=5)
    floor = earliest_id("dec", moment)
    later = earliest_id("dec", moment + timedelta(milliseconds=1))
    assert is_well_formed(floor, "dec")
    assert before < floor < later
    assert earliest_id("dec", moment - timedelta(days=1)) < before

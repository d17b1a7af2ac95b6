"""Fire times as the schedule pages show them: on the wall clock, kept per expression and zone
without ever showing one that has passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from corral.web.fire_times import _upcoming, fire_times_shown


def test_shown_on_the_zones_wall_clock_or_why_not() -> None:
    fires, problem = fire_times_shown("15 6 * * *", "Asia/Tokyo", 3)
    assert problem is None
    assert len(fires) == 3
    assert all(fire.endswith(" 06:15 JST") for fire in fires)
    assert fire_times_shown("* * *", "UTC", 3)[1] is not None
    assert fire_times_shown("@daily", "Nowhere/Town", 3)[1] is not None
    assert fire_times_shown("0 0 30 2 *", "UTC", 3) == (
        [],
        "'0 0 30 2 *' never fires in the coming years",
    )


def test_kept_fire_times_never_include_passed_ones() -> None:
    # A zone no other test names: what this test keeps lies years ahead of the real clock.
    zone = ZoneInfo("Etc/UTC")
    start = datetime(2030, 1, 1, tzinfo=UTC)
    first = _upcoming("*/5 * * * *", zone, start, 3)
    assert first == [start + timedelta(minutes=m) for m in (5, 10, 15)]
    # From the kept list, later: the passed ones are dropped, the next ones follow.
    later = _upcoming("*/5 * * * *", zone, start + timedelta(minutes=12), 3)
    assert later == [start + timedelta(minutes=m) for m in (15, 20, 25)]
    # Past the kept span, they are found again.
    much_later = _upcoming("*/5 * * * *", zone, start + timedelta(hours=5), 2)
    assert much_later == [start + timedelta(hours=5, minutes=m) for m in (5, 10)]

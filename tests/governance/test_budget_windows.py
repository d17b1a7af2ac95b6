"""Budget windows in UTC: fixed windows start at their boundary, rolling ones slide by 1/60."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from corral.governance.budgets.windows import STEP, current

CREATED = datetime(2026, 11, 3, 15, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "now", "start", "end"),
    [
        ("1h", "2026-12-02T10:20:05", "2026-12-02T10:00:00", "2026-12-02T11:00:00"),
        ("1d", "2026-12-02T23:59:59", "2026-12-02T00:00:00", "2026-12-03T00:00:00"),
        # 2026-12-02 is a Wednesday: the week started on Monday the 30th.
        ("7d", "2026-12-02T10:20:05", "2026-11-30T00:00:00", "2026-12-07T00:00:00"),
        # Every 30 days from the day of creation (2026-11-03).
        ("30d", "2026-12-02T10:00:00", "2026-11-03T00:00:00", "2026-12-03T00:00:00"),
        ("30d", "2026-12-03T00:00:00", "2026-12-03T00:00:00", "2027-01-02T00:00:00"),
        ("month", "2026-12-31T23:00:00", "2026-12-01T00:00:00", "2027-01-01T00:00:00"),
        ("month", "2027-02-10T00:00:00", "2027-02-01T00:00:00", "2027-03-01T00:00:00"),
    ],
)
def test_fixed_windows(window: str, now: str, start: str, end: str) -> None:
    found = current(window, "fixed", CREATED, datetime.fromisoformat(now).replace(tzinfo=UTC))
    assert found.start == datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert found.end == datetime.fromisoformat(end).replace(tzinfo=UTC)
    # Amounts go to the bucket of the step holding `now`, within the window.
    assert found.start <= found.bucket <= datetime.fromisoformat(now).replace(tzinfo=UTC)
    assert found.bucket.timestamp() % STEP[window].total_seconds() == 0
    assert datetime.fromisoformat(now).replace(tzinfo=UTC) - found.bucket < STEP[window]


def test_rolling_windows_slide_by_a_sixtieth() -> None:
    now = datetime(2026, 12, 2, 10, 20, 30, tzinfo=UTC)
    found = current("1h", "rolling", CREATED, now)
    assert found.bucket == datetime(2026, 12, 2, 10, 20, tzinfo=UTC)
    assert found.start == datetime(2026, 12, 2, 9, 20, tzinfo=UTC)
    assert found.end == now
    month = current("month", "rolling", CREATED, now)
    assert month.bucket - month.start == timedelta(days=30)

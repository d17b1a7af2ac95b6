"""Window arithmetic, all in UTC: where a budget's current window starts and ends, and the
bucket a reservation goes to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from corral.core.clock import as_utc

LENGTH = {
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    # A rolling month is the last 30 days.
    "month": timedelta(days=30),
}
# A rolling window slides by 1/60 of its length (a minute for an hour).
ROLLING_BUCKETS = 60
# A fixed window keeps its amounts in buckets of this length rather than one for the whole
# window, so its spend over time can be read back (the budget page's chart uses the same steps).
STEP = {
    "1h": timedelta(minutes=5),
    "1d": timedelta(hours=1),
    "7d": timedelta(days=1),
    "30d": timedelta(days=1),
    "month": timedelta(days=1),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    # Where amounts reserved now go: the latest bucket whose amounts count in the window.
    bucket: datetime


def _floor(moment: datetime, step: timedelta, origin: datetime = _EPOCH) -> datetime:
    return origin + step * ((moment - origin) // step)


def _next_month(moment: datetime) -> datetime:
    return (
        moment.replace(year=moment.year + 1, month=1)
        if moment.month == 12
        else (moment.replace(month=moment.month + 1))
    )


def floor(moment: datetime, step: timedelta) -> datetime:
    """The start of the `step`-long bucket (counted from the epoch) that holds the moment."""
    return _floor(as_utc(moment), step)


def current(window: str, kind: str, created_at: datetime, now: datetime) -> Window:
    fixed = _current_fixed(window, kind, created_at, as_utc(now))
    if fixed is None:
        return _current_rolling(window, as_utc(now))
    # Every fixed window starts on a boundary of its step (midnight, or the hour).
    return Window(fixed.start, fixed.end, max(fixed.start, _floor(as_utc(now), STEP[window])))


def _current_rolling(window: str, now: datetime) -> Window:
    length = LENGTH[window]
    step = length / ROLLING_BUCKETS
    bucket = _floor(now, step)
    # Buckets that started after this overlap the window; the oldest may overlap it only
    # partly, which counts it whole (the conservative side).
    return Window(_floor(now - length, step), now, bucket)


def _current_fixed(window: str, kind: str, created_at: datetime, now: datetime) -> Window | None:
    if kind == "rolling":
        return None
    if window == "month":
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return Window(start, _next_month(start), start)
    if window == "7d":
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        start = day - timedelta(days=day.weekday())
        return Window(start, start + LENGTH[window], start)
    if window == "30d":
        origin = as_utc(created_at).replace(hour=0, minute=0, second=0, microsecond=0)
        start = _floor(now, LENGTH[window], origin)
        return Window(start, start + LENGTH[window], start)
    start = _floor(now, LENGTH[window])
    return Window(start, start + LENGTH[window], start)

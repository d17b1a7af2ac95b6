"""Cron expressions read as wall-clock times in an IANA time zone, and their fire times in UTC.

A schedule says "09:00 in Europe/Paris", so fire times are found on the zone's wall clock and
only then turned into instants. Daylight-saving transitions follow cronie's rules for jobs at a
fixed time, applied to every expression so that the mapping from wall clock to instant never
goes backwards:

- a wall-clock time that a spring-forward gap skips fires once, at the instant the gap ends
  (02:30 on the night Paris jumps from 02:00 to 03:00 fires at 03:00 CEST); several skipped
  times collapse into that one fire;
- a wall-clock time that a fall-back repeats fires once, at its first occurrence (02:30 CEST,
  not again at 02:30 CET).

Only five fields (minute to day of week) and the `@hourly`-style macros are accepted: a sixth
(seconds) field would fire more than once a minute, and croniter's random (`R`) and hashed (`H`)
fields would make fire times differ between replicas.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import (  # type: ignore[import-untyped]
    CroniterBadCronError,
    CroniterBadDateError,
    CroniterError,
    croniter,
)

MAX_CRON_CHARS = 200
_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
# Fire times further away than this are not looked for: "0 0 30 2 *" never fires.
_HORIZON_YEARS = 5


def check_cron(expression: str) -> str:
    """The expression with its fields single-spaced, or ValueError saying what is wrong."""
    fields = expression.split()
    if not fields:
        raise ValueError("a cron expression is required")
    if len(fields) == 1 and fields[0].startswith("@"):
        if fields[0].lower() not in _MACROS:
            raise ValueError(
                f"unknown macro {fields[0]!r}; use one of {', '.join(sorted(_MACROS))}"
            )
        normalized = fields[0].lower()
    else:
        if len(fields) != 5:
            raise ValueError(
                f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
                f"not {len(fields)}; seconds are not supported: a schedule fires at most once "
                "a minute"
            )
        if any(letter in field.upper() for field in fields for letter in ("H", "R")):
            raise ValueError("random (R) and hashed (H) fields are not supported")
        normalized = " ".join(fields)
    try:
        croniter(normalized)
    except CroniterError as exc:
        raise ValueError(f"not a valid cron expression: {exc}") from None
    return normalized


def check_timezone(name: str) -> ZoneInfo:
    """The IANA time zone, or ValueError."""
    try:
        if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not an IANA time zone such as 'UTC' or 'Europe/Paris'"
        ) from None


def _wall_clock(instant: datetime, zone: ZoneInfo) -> datetime:
    # Through UTC: astimezone() to the instant's own zone would return it unchanged.
    return instant.astimezone(UTC).astimezone(zone).replace(tzinfo=None)


def _gap_end(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a gap containing this non-existent wall-clock time ends (UTC)."""
    # fold=1 reads the time with the offset after the transition (earlier instant), fold=0 with
    # the one before (later instant); the transition lies between them.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    after = high.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a wall-clock fire time stands for, by the rules above."""
    first = wall.replace(tzinfo=zone, fold=0)
    if _wall_clock(first, zone) != wall:
        return _gap_end(wall, zone)
    return first.astimezone(UTC)


def fire_times(cron: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Fire times strictly after `after` (aware), ascending, in UTC; ends past the horizon."""
    after = after.astimezone(UTC)
    horizon = after + timedelta(days=366 * _HORIZON_YEARS)
    # Every wall-clock time before `after`'s own maps to an instant no later than `after`,
    # so iterating from it misses nothing; repeated or collapsed instants are skipped below.
    walls = croniter(cron, _wall_clock(after, zone), max_years_between_matches=_HORIZON_YEARS)
    last = after
    while True:
        try:
            wall = walls.get_next(datetime)
        except (CroniterBadDateError, CroniterBadCronError):
            return
        instant = to_instant(wall, zone)
        if instant > horizon:
            return
        if instant > last:
            last = instant
            yield instant


def next_fire(cron: str, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first fire time strictly after `after`, or None when it never fires again."""
    return next(fire_times(cron, zone, after), None)


def latest_fire(cron: str, zone: ZoneInfo, moment: datetime) -> datetime | None:
    """The last fire time at or before `moment`, or None when there is none in the horizon."""
    moment = moment.astimezone(UTC)
    walls = croniter(
        cron, _wall_clock(moment, zone), max_years_between_matches=_HORIZON_YEARS, is_prev=True
    )
    try:
        candidate = to_instant(walls.get_prev(datetime), zone)
    except (CroniterBadDateError, CroniterBadCronError):
        return None
    # In a repeated hour a later wall-clock time can stand for an earlier instant than the
    # one get_prev found; walking forward from it catches those.
    latest = candidate
    for instant in fire_times(cron, zone, candidate):
        if instant > moment:
            break
        latest = instant
    return latest


def count_fires(cron: str, zone: ZoneInfo, start: datetime, end: datetime, *, limit: int) -> int:
    """How many fire times lie in [start, end), counting at most `limit`."""
    count = 0
    for instant in fire_times(cron, zone, start - timedelta(microseconds=1)):
        if instant >= end or count >= limit:
            break
        count += 1
    return count

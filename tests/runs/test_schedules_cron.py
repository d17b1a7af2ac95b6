"""Cron expressions on a time zone's wall clock: validation, fire times, DST gaps and repeats."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from corral.runs import cron

PARIS = cron.check_timezone("Europe/Paris")
# 2026: Paris springs forward on 29 March (02:00 CET → 03:00 CEST = 01:00 UTC) and falls back
# on 25 October (03:00 CEST → 02:00 CET = 01:00 UTC).
BEFORE_SPRING = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
BEFORE_FALL = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def fires(expression: str, after: datetime, count: int) -> list[datetime]:
    return list(itertools.islice(cron.fire_times(expression, PARIS, after), count))


def local(instants: list[datetime]) -> list[str]:
    return [i.astimezone(PARIS).strftime("%d %H:%M%z") for i in instants]


@pytest.mark.parametrize(
    ("expression", "normalized"),
    [
        ("0 9 * * 1-5", "0 9 * * 1-5"),
        ("  */15   *  * * *  ", "*/15 * * * *"),
        ("0 0 L * *", "0 0 L * *"),
        ("@daily", "@daily"),
        ("@HOURLY", "@hourly"),
    ],
)
def test_valid_expressions_are_normalized(expression: str, normalized: str) -> None:
    assert cron.check_cron(expression) == normalized


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("* * * * * *", "seconds are not supported"),
        ("* * * * * * *", "5 fields"),
        ("* * * *", "5 fields"),
        ("", "required"),
        ("H * * * *", "hashed"),
        ("R 9 * * *", "random"),
        ("60 * * * *", "not a valid cron expression"),
        ("*/0 * * * *", "not a valid cron expression"),
        ("@reboot", "unknown macro"),
    ],
)
def test_invalid_expressions_say_why(expression: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        cron.check_cron(expression)


@pytest.mark.parametrize("name", ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
def test_iana_zones_are_accepted(name: str) -> None:
    assert str(cron.check_timezone(name)) == name


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "../etc/passwd", "/etc/localtime", " UTC"])
def test_other_zone_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="IANA time zone"):
        cron.check_timezone(name)


def test_fire_times_are_read_on_the_zone_wall_clock() -> None:
    winter = fires("0 9 * * *", utc(2026, 1, 10, 12, 0), 1)
    summer = fires("0 9 * * *", utc(2026, 7, 10, 12, 0), 1)
    assert winter == [utc(2026, 1, 11, 8, 0)]
    assert summer == [utc(2026, 7, 11, 7, 0)]


def test_fire_times_are_strictly_after_the_start() -> None:
    assert fires("0 * * * *", utc(2026, 1, 10, 12, 0), 2) == [
        utc(2026, 1, 10, 13, 0),
        utc(2026, 1, 10, 14, 0),
    ]


def test_a_time_skipped_by_spring_forward_fires_when_the_gap_ends() -> None:
    daily = fires("30 2 * * *", BEFORE_SPRING, 2)
    assert daily == [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]
    assert local(daily) == ["29 03:00+0200", "30 02:30+0200"]


def test_times_skipped_by_spring_forward_collapse_into_one_fire() -> None:
    every_20 = fires("*/20 1-3 * * *", BEFORE_SPRING, 7)
    assert local(every_20) == [
        "29 01:00+0100",
        "29 01:20+0100",
        "29 01:40+0100",
        "29 03:00+0200",
        "29 03:20+0200",
        "29 03:40+0200",
        "30 01:00+0200",
    ]


def test_hourly_fires_every_real_hour_across_spring_forward() -> None:
    hourly = fires("0 * * * *", BEFORE_SPRING, 5)
    assert [b - a for a, b in itertools.pairwise(hourly)] == [timedelta(hours=1)] * 4
    assert local(hourly) == [
        "29 00:00+0100",
        "29 01:00+0100",
        "29 03:00+0200",
        "29 04:00+0200",
        "29 05:00+0200",
    ]


def test_a_time_repeated_by_fall_back_fires_once_at_its_first_occurrence() -> None:
    daily = fires("30 2 * * *", BEFORE_FALL, 2)
    assert local(daily) == ["25 02:30+0200", "26 02:30+0100"]
    assert daily[0] == utc(2026, 10, 25, 0, 30)


def test_the_repeated_hour_is_not_fired_twice() -> None:
    hourly = fires("0 * * * *", BEFORE_FALL, 4)
    assert local(hourly) == ["25 01:00+0200", "25 02:00+0200", "25 03:00+0100", "25 04:00+0100"]
    # 02:00 CEST to 03:00 CET is two real hours: the second 02:00 does not fire again.
    assert hourly[2] - hourly[1] == timedelta(hours=2)


def test_next_fire_from_inside_the_repeated_hour() -> None:
    # 01:40 UTC is 02:40 CET, the second pass: 02:50 already fired at 02:50 CEST.
    second_pass = utc(2026, 10, 25, 1, 40)
    assert cron.next_fire("50 2 * * *", PARIS, second_pass) == utc(2026, 10, 26, 1, 50)
    assert cron.next_fire("*/20 * * * *", PARIS, second_pass) == utc(2026, 10, 25, 2, 0)


def test_latest_fire_inside_the_repeated_hour() -> None:
    second_pass = utc(2026, 10, 25, 1, 45)
    # Windows so far: 02:00, 02:20, 02:40 CEST (00:00, 00:20, 00:40 UTC); not again in CET.
    assert cron.latest_fire("*/20 * * * *", PARIS, second_pass) == utc(2026, 10, 25, 0, 40)


def test_latest_fire_includes_the_moment_itself() -> None:
    assert cron.latest_fire("0 9 * * *", PARIS, utc(2026, 1, 10, 8, 0)) == utc(2026, 1, 10, 8, 0)
    assert cron.latest_fire("0 9 * * *", PARIS, utc(2026, 1, 10, 7, 59)) == utc(2026, 1, 9, 8, 0)


def test_count_fires_is_half_open_and_bounded() -> None:
    start, end = utc(2026, 1, 10, 12, 0), utc(2026, 1, 10, 13, 0)
    assert cron.count_fires("* * * * *", PARIS, start, end, limit=1000) == 60
    assert cron.count_fires("* * * * *", PARIS, start, end, limit=7) == 7
    assert cron.count_fires("0 9 * * *", PARIS, start, end, limit=1000) == 0


def test_an_expression_that_never_fires_has_no_next_fire() -> None:
    assert cron.next_fire("0 0 30 2 *", PARIS, utc(2026, 1, 1, 0, 0)) is None
    assert cron.latest_fire("0 0 30 2 *", PARIS, utc(2026, 1, 1, 0, 0)) is None

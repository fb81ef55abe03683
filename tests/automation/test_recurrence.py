"""When schedules fire (automation/services/recurrence.py), with the real zone data of zoneinfo.

2026's daylight-saving changes: Europe/Berlin springs forward on Sunday 29 March (02:00 → 03:00) and falls
back on Sunday 25 October (03:00 → 02:00); America/New_York springs forward on Sunday 8 March (02:00 → 03:00)
and falls back on Sunday 1 November (02:00 → 01:00).
"""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from automation.services.recurrence import Rule, fires_through, next_fire, next_fires

pytestmark = pytest.mark.sqlite

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def berlin(*parts) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)


def new_york(*parts) -> datetime:
    return datetime(*parts, tzinfo=NEW_YORK)


def rule(start: datetime, frequency: str, **options) -> Rule:
    return Rule(start_time=start, time_zone=str(start.tzinfo), frequency=frequency, **options)


def local(instants, zone=BERLIN) -> list[str]:
    return [i.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z") for i in instants]


# ---- every kind ----


def test_a_one_time_schedule_fires_once_at_its_start():
    once = rule(berlin(2026, 5, 1, 9, 0), "OneTime")

    assert next_fires(once, after=utc(2026, 1, 1), count=5) == [utc(2026, 5, 1, 7, 0)]
    assert next_fire(once, after=utc(2026, 5, 1, 7, 0)) is None


def test_a_minute_schedule_steps_in_absolute_time_through_the_spring_change():
    quarter = rule(berlin(2026, 3, 29, 1, 30), "Minute", interval=15)

    got = next_fires(quarter, after=utc(2026, 3, 29, 0, 0), count=4)

    assert got == [utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 0, 45), utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 15)]
    assert local(got)[2:] == ["Sun 2026-03-29 03:00 CEST", "Sun 2026-03-29 03:15 CEST"]


def test_an_hour_schedule_keeps_its_interval_through_the_autumn_change():
    hourly = rule(new_york(2026, 11, 1, 0, 0), "Hour", interval=1)

    got = next_fires(hourly, after=utc(2026, 11, 1, 3, 0), count=4)

    assert [b - a for a, b in pairwise(got)] == [timedelta(hours=1)] * 3
    # 01:00 twice: once in daylight time, once in standard time, an hour apart.
    assert local(got, NEW_YORK) == [
        "Sun 2026-11-01 00:00 EDT",
        "Sun 2026-11-01 01:00 EDT",
        "Sun 2026-11-01 01:00 EST",
        "Sun 2026-11-01 02:00 EST",
    ]


def test_a_minute_schedule_may_fire_every_minute():
    every_minute = rule(berlin(2026, 1, 1, 0, 0), "Minute", interval=1)

    assert next_fires(every_minute, after=utc(2026, 6, 1, 12, 0, 30), count=2) == [
        utc(2026, 6, 1, 12, 1),
        utc(2026, 6, 1, 12, 2),
    ]


def test_a_daily_schedule_keeps_its_wall_clock_time_across_both_changes():
    daily = rule(berlin(2026, 3, 1, 9, 15), "Day")

    spring = next_fires(daily, after=utc(2026, 3, 27), count=4)
    autumn = next_fires(daily, after=utc(2026, 10, 24), count=3)

    assert [i.astimezone(BERLIN).strftime("%H:%M") for i in spring + autumn] == ["09:15"] * 7
    assert spring[1] - spring[0] == timedelta(days=1)
    assert spring[2] - spring[1] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)


def test_every_third_day_counts_from_the_start():
    every_third = rule(berlin(2026, 1, 1, 6, 0), "Day", interval=3)

    assert local(next_fires(every_third, after=utc(2026, 1, 1, 6), count=3)) == [
        "Sun 2026-01-04 06:00 CET",
        "Wed 2026-01-07 06:00 CET",
        "Sat 2026-01-10 06:00 CET",
    ]


def test_a_weekly_schedule_fires_on_its_chosen_days_every_other_week():
    fortnightly = rule(berlin(2026, 1, 5, 8, 0), "Week", interval=2, week_days=("Monday", "Thursday"))

    assert local(next_fires(fortnightly, after=utc(2026, 1, 1), count=5)) == [
        "Mon 2026-01-05 08:00 CET",
        "Thu 2026-01-08 08:00 CET",
        "Mon 2026-01-19 08:00 CET",
        "Thu 2026-01-22 08:00 CET",
        "Mon 2026-02-02 08:00 CET",
    ]


def test_a_weekly_schedule_without_days_fires_on_the_start_day():
    weekly = rule(berlin(2026, 1, 7, 8, 0), "Week")  # a Wednesday

    assert local(next_fires(weekly, after=utc(2026, 1, 1), count=2)) == [
        "Wed 2026-01-07 08:00 CET",
        "Wed 2026-01-14 08:00 CET",
    ]


def test_a_monthly_schedule_fires_on_its_days_and_not_in_a_month_that_lacks_one():
    thirty_first = rule(berlin(2026, 1, 31, 12, 0), "Month", month_days=(31,))

    assert local(next_fires(thirty_first, after=utc(2026, 1, 1), count=4)) == [
        "Sat 2026-01-31 12:00 CET",
        "Tue 2026-03-31 12:00 CEST",
        "Sun 2026-05-31 12:00 CEST",
        "Fri 2026-07-31 12:00 CEST",
    ]


def test_the_last_day_of_the_month_is_minus_one_and_knows_leap_years():
    last_day = rule(berlin(2027, 12, 1, 23, 0), "Month", month_days=(-1,))

    assert [i.astimezone(BERLIN).date().isoformat() for i in next_fires(last_day, after=utc(2027, 12, 1), count=4)] == [
        "2027-12-31",
        "2028-01-31",
        "2028-02-29",
        "2028-03-31",
    ]


def test_a_monthly_schedule_on_occurrences_first_monday_and_last_friday():
    occurrences = rule(berlin(2026, 1, 1, 7, 0), "Month", monthly_occurrences=(("Monday", 1), ("Friday", -1)))

    assert local(next_fires(occurrences, after=utc(2026, 1, 1), count=4)) == [
        "Mon 2026-01-05 07:00 CET",
        "Fri 2026-01-30 07:00 CET",
        "Mon 2026-02-02 07:00 CET",
        "Fri 2026-02-27 07:00 CET",
    ]


def test_every_third_month_counts_from_the_start_month():
    quarterly = rule(berlin(2020, 2, 15, 7, 0), "Month", interval=3, month_days=(15,))

    assert [i.astimezone(BERLIN).strftime("%Y-%m") for i in next_fires(quarterly, after=utc(2026, 1, 1), count=3)] == [
        "2026-02",
        "2026-05",
        "2026-08",
    ]


def test_a_rule_that_can_never_fire_has_no_next_run():
    # The 30th of every 12th month from February: there is no 30 February.
    never = rule(berlin(2026, 2, 1, 7, 0), "Month", interval=12, month_days=(30,))

    assert next_fire(never, after=utc(2026, 1, 1)) is None


# ---- daylight-saving changes: a weekly and a monthly rule in two zones ----


def test_weekly_in_berlin_a_time_in_the_spring_gap_fires_once_when_the_gap_ends():
    sundays = rule(berlin(2026, 3, 22, 2, 30), "Week", week_days=("Sunday",))

    got = next_fires(sundays, after=utc(2026, 3, 21), count=3)

    assert local(got) == ["Sun 2026-03-22 02:30 CET", "Sun 2026-03-29 03:00 CEST", "Sun 2026-04-05 02:30 CEST"]
    assert got[1] == utc(2026, 3, 29, 1, 0)  # the instant of the change


def test_weekly_in_berlin_a_repeated_time_fires_once_at_its_first_occurrence():
    sundays = rule(berlin(2026, 10, 18, 2, 30), "Week", week_days=("Sunday",))

    got = next_fires(sundays, after=utc(2026, 10, 24), count=2)

    assert got == [utc(2026, 10, 25, 0, 30), utc(2026, 11, 1, 1, 30)]
    assert local(got) == ["Sun 2026-10-25 02:30 CEST", "Sun 2026-11-01 02:30 CET"]


def test_weekly_in_new_york_across_both_changes():
    sundays = rule(new_york(2026, 3, 1, 2, 30), "Week", week_days=("Sunday",))
    early_sundays = rule(new_york(2026, 10, 25, 1, 30), "Week", week_days=("Sunday",))

    spring = next_fires(sundays, after=utc(2026, 3, 2), count=2)
    autumn = next_fires(early_sundays, after=utc(2026, 10, 26), count=2)

    assert spring == [utc(2026, 3, 8, 7, 0), utc(2026, 3, 15, 6, 30)]
    assert local(spring, NEW_YORK) == ["Sun 2026-03-08 03:00 EDT", "Sun 2026-03-15 02:30 EDT"]
    assert autumn == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 8, 6, 30)]
    assert local(autumn, NEW_YORK) == ["Sun 2026-11-01 01:30 EDT", "Sun 2026-11-08 01:30 EST"]


def test_monthly_in_berlin_on_the_last_sunday_across_both_changes():
    last_sundays = rule(berlin(2026, 1, 1, 2, 30), "Month", monthly_occurrences=(("Sunday", -1),))

    got = next_fires(last_sundays, after=utc(2026, 3, 1), count=8)

    assert got[0] == utc(2026, 3, 29, 1, 0)  # 02:30 does not exist that night: the end of the gap
    assert got[7] == utc(2026, 10, 25, 0, 30)  # 02:30 twice that night: the first one
    assert local(got)[:2] == ["Sun 2026-03-29 03:00 CEST", "Sun 2026-04-26 02:30 CEST"]
    assert local(got)[7:] == ["Sun 2026-10-25 02:30 CEST"]
    assert len(set(got)) == 8


def test_monthly_in_new_york_on_month_days_across_both_changes():
    eighth = rule(new_york(2026, 2, 8, 2, 15), "Month", month_days=(8,))
    first = rule(new_york(2026, 10, 1, 1, 45), "Month", month_days=(1,))

    spring = next_fires(eighth, after=utc(2026, 3, 1), count=2)
    autumn = next_fires(first, after=utc(2026, 10, 2), count=2)

    assert spring == [utc(2026, 3, 8, 7, 0), utc(2026, 4, 8, 6, 15)]
    assert autumn == [utc(2026, 11, 1, 5, 45), utc(2026, 12, 1, 6, 45)]
    assert local(autumn, NEW_YORK) == ["Sun 2026-11-01 01:45 EDT", "Tue 2026-12-01 01:45 EST"]


# ---- expiry ----


@pytest.mark.parametrize("frequency", ["OneTime", "Minute", "Day", "Week", "Month"])
def test_nothing_fires_at_or_after_the_expiry(frequency):
    start = berlin(2026, 1, 5, 8, 0)
    expiring = rule(start, frequency, expiry_time=start)
    assert next_fires(expiring, after=utc(2025, 1, 1), count=3) == []

    later = rule(start, frequency, expiry_time=berlin(2026, 3, 1))
    got = next_fires(later, after=utc(2025, 1, 1), count=100_000)
    assert got and all(i < later.expiry_time for i in got)


def test_a_daily_schedule_stops_at_its_expiry():
    daily = rule(berlin(2026, 1, 1, 8, 0), "Day", expiry_time=berlin(2026, 1, 3, 8, 0))

    assert local(next_fires(daily, after=utc(2025, 1, 1), count=10)) == [
        "Thu 2026-01-01 08:00 CET",
        "Fri 2026-01-02 08:00 CET",
    ]


# ---- counting a missed range ----


def test_a_missed_range_is_counted_without_listing_it():
    every_minute = rule(berlin(2026, 1, 1, 0, 0), "Minute")
    daily = rule(berlin(2026, 1, 1, 9, 0), "Day")

    assert fires_through(every_minute, first=utc(2026, 1, 1, 0, 0), until=utc(2026, 1, 31, 0, 0)) == (
        30 * 24 * 60 + 1,
        utc(2026, 1, 31, 0, 0),
    )
    assert fires_through(daily, first=utc(2026, 1, 1, 8), until=utc(2026, 1, 10, 7, 59)) == (9, utc(2026, 1, 9, 8))
    assert fires_through(daily, first=utc(2026, 1, 1, 8, 1), until=utc(2026, 1, 2, 7, 59)) == (0, None)

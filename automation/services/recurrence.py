"""When a schedule fires: pure functions over a Rule, no database.

Day, Week and Month rules (and OneTime) are wall-clock times in the rule's zone: a daily 02:30 stays 02:30
local across daylight-saving changes. A local time that does not exist (spring forward) fires once, at the
first valid instant after the gap; one that happens twice (fall back) fires once, at its first occurrence.
Minute and Hour rules step in absolute time from the start: a 15-minute schedule keeps 15 minutes apart
through a change, as a person watching a clock on the wall would not expect but a monitoring job does.
A month day that a month lacks (the 31st) does not fire in that month; -1 is the month's last day.
Every instant handed out is UTC, strictly before the expiry.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil import rrule
from dateutil.relativedelta import relativedelta

ONE_TIME, MINUTE, HOUR, DAY, WEEK, MONTH = "OneTime", "Minute", "Hour", "Day", "Week", "Month"
FREQUENCIES = (ONE_TIME, MINUTE, HOUR, DAY, WEEK, MONTH)
WEEK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
OCCURRENCES = (1, 2, 3, 4, -1)
_RRULE_DAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)
_STEPS = {MINUTE: timedelta(minutes=1), HOUR: timedelta(hours=1)}
# Looking ahead stops this far past the longest interval: a rule that fires in no month it reaches (the 30th
# of every 12th month from a February) fires never, not after a search to the year 9999.
_HORIZON_YEARS = 12


@dataclass(frozen=True)
class Rule:
    start_time: datetime  # aware
    time_zone: str  # an IANA name
    frequency: str
    interval: int = 1
    week_days: tuple[str, ...] = ()
    month_days: tuple[int, ...] = ()
    monthly_occurrences: tuple[tuple[str, int], ...] = ()  # (day, occurrence)
    expiry_time: datetime | None = None


def fires(rule: Rule, *, after: datetime) -> Iterator[datetime]:
    """The rule's fire instants (UTC) strictly after `after`, in order, until the expiry or the horizon."""
    after = after.astimezone(UTC)
    start = rule.start_time.astimezone(UTC)
    expiry = rule.expiry_time.astimezone(UTC) if rule.expiry_time is not None else None
    if rule.frequency == ONE_TIME:
        instants: Iterator[datetime] = iter([start] if start > after else [])
    elif rule.frequency in _STEPS:
        instants = _steps(start, _STEPS[rule.frequency] * rule.interval, after)
    else:
        instants = _wall_clock(rule, after)
    for instant in instants:
        if expiry is not None and instant >= expiry:
            return
        yield instant


def next_fires(rule: Rule, *, after: datetime, count: int) -> list[datetime]:
    found = []
    for instant in fires(rule, after=after):
        found.append(instant)
        if len(found) >= count:
            break
    return found


def next_fire(rule: Rule, *, after: datetime) -> datetime | None:
    return next(fires(rule, after=after), None)


def fires_through(rule: Rule, *, first: datetime, until: datetime) -> tuple[int, datetime | None]:
    """How many fires fall in [first, until], and the last of them: a missed range, counted without keeping it
    (a minute schedule down for a month is 43,200 fires)."""
    first, until = first.astimezone(UTC), until.astimezone(UTC)
    if rule.frequency in _STEPS and first <= until:
        step = _STEPS[rule.frequency] * rule.interval
        end = until if rule.expiry_time is None else min(until, rule.expiry_time.astimezone(UTC) - timedelta.resolution)
        start = rule.start_time.astimezone(UTC)
        if end < max(first, start):
            return 0, None
        low = max(0, math.ceil((first - start) / step))
        high = (end - start) // step
        return (max(0, high - low + 1), start + high * step) if high >= low else (0, None)
    count, last = 0, None
    for instant in fires(rule, after=first - timedelta.resolution):
        if instant > until:
            break
        count, last = count + 1, instant
    return count, last


def _steps(start: datetime, step: timedelta, after: datetime) -> Iterator[datetime]:
    index = 0 if after < start else (after - start) // step + 1
    while True:
        yield start + index * step
        index += 1


def _wall_clock(rule: Rule, after: datetime) -> Iterator[datetime]:
    zone = ZoneInfo(rule.time_zone)
    dtstart = rule.start_time.astimezone(zone).replace(tzinfo=None)
    # Local wall time of `after`, a margin early: an instant's wall time and the wall time that resolves to it
    # differ by at most a daylight-saving shift.
    search_from = after.astimezone(zone).replace(tzinfo=None) - timedelta(days=2)
    recurrence = _rrule(rule, _fast_forward(rule, dtstart, search_from))
    horizon = max(search_from, dtstart) + relativedelta(years=_HORIZON_YEARS) + _period(rule) * 3
    previous = None
    for local in recurrence.xafter(max(search_from, dtstart), inc=True):
        if local > horizon:
            return
        instant = resolve(local, zone)
        # Two wall times can resolve to one instant only around a gap: it fires once.
        if instant > after and instant != previous:
            previous = instant
            yield instant


def _period(rule: Rule) -> relativedelta:
    unit = {DAY: "days", WEEK: "weeks", MONTH: "months"}[rule.frequency]
    return relativedelta(**{unit: rule.interval})


def _fast_forward(rule: Rule, dtstart: datetime, search_from: datetime) -> datetime:
    """A start a whole number of intervals later, still before `search_from`: the same occurrences from there
    on, without walking years of them one by one."""
    if search_from <= dtstart:
        return dtstart
    if rule.frequency == MONTH:
        months = (search_from.year - dtstart.year) * 12 + search_from.month - dtstart.month
        periods = months // rule.interval - 1
        if periods <= 0:
            return dtstart
        # Day 1: the rule names its days itself, and every month has a first.
        return dtstart.replace(day=1) + relativedelta(months=periods * rule.interval)
    days = rule.interval * (7 if rule.frequency == WEEK else 1)
    periods = (search_from - dtstart).days // days - 1
    return dtstart + timedelta(days=max(0, periods) * days)


def _rrule(rule: Rule, dtstart: datetime) -> rrule.rrule:
    options: dict = {"dtstart": dtstart, "interval": rule.interval}
    if rule.frequency == DAY:
        return rrule.rrule(rrule.DAILY, **options)
    if rule.frequency == WEEK:
        days = rule.week_days or (WEEK_DAYS[rule.start_time.astimezone(ZoneInfo(rule.time_zone)).weekday()],)
        # Weeks begin on Monday, so "every 2 weeks on Sunday and Monday" counts weeks as a calendar does.
        return rrule.rrule(
            rrule.WEEKLY, wkst=rrule.MO, byweekday=[_RRULE_DAYS[WEEK_DAYS.index(d)] for d in days], **options
        )
    if rule.monthly_occurrences:
        days = [_RRULE_DAYS[WEEK_DAYS.index(day)](n) for day, n in rule.monthly_occurrences]
        return rrule.rrule(rrule.MONTHLY, byweekday=days, **options)
    month_days = rule.month_days or (rule.start_time.astimezone(ZoneInfo(rule.time_zone)).day,)
    # dateutil leaves out a month that lacks the day (no 31st in April), and counts -1 from the month's end.
    return rrule.rrule(rrule.MONTHLY, bymonthday=list(month_days), **options)


def resolve(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a wall-clock time names in `zone`: its first occurrence when it happens twice (fold 0),
    the end of the gap when it does not happen at all."""
    first = local.replace(tzinfo=zone, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local:
        return instant
    # In a gap: fold 0 reads it with the offset before the change (an instant after the gap), fold 1 with the
    # one after (an instant before it). The change itself lies between: find it to the second.
    early = int(local.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    late = int(instant.timestamp())
    offset_after = instant.astimezone(zone).utcoffset()
    # Zones change on a whole second: the first second with the new offset is the change.
    while late - early > 1:
        middle = (early + late) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == offset_after:
            late = middle
        else:
            early = middle
    return datetime.fromtimestamp(late, UTC)


def local_time(instant: datetime, time_zone: str) -> datetime:
    return instant.astimezone(ZoneInfo(time_zone))

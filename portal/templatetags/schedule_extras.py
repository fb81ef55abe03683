"""How the Schedules blades say a schedule: its rule in words, its status, a time in its own zone."""

import zoneinfo
from datetime import datetime, timedelta

from django import template
from django.utils import timezone

from automation.models import Frequency

register = template.Library()

OCCURRENCE_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
UNIT_WORDS = {
    Frequency.MINUTE: "minute",
    Frequency.HOUR: "hour",
    Frequency.DAY: "day",
    Frequency.WEEK: "week",
    Frequency.MONTH: "month",
}


@register.filter
def in_zone(moment: datetime | None, zone: str):
    """The moment on the wall clocks of `zone` (an IANA name); a name the server does not know: as it came."""
    if moment is None:
        return None
    try:
        return moment.astimezone(zoneinfo.ZoneInfo(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return moment


def _day_words(days: list[int]) -> str:
    words = [str(day) for day in days if day != -1] + (["the last day"] if -1 in days else [])
    if len(words) == 1:
        return ("day " if words[0] != "the last day" else "") + words[0]
    return "days " + ", ".join(words[:-1]) + " and " + words[-1]


@register.filter
def recurrence_words(schedule) -> str:
    """Azure's rule as a sentence: "Once", "Every 2 weeks on Monday, Thursday", "Every month on the last Friday"."""
    if schedule.frequency == Frequency.ONE_TIME:
        return "Once"
    unit = UNIT_WORDS.get(schedule.frequency, schedule.frequency.lower())
    every = f"Every {unit}" if schedule.interval == 1 else f"Every {schedule.interval} {unit}s"
    if schedule.frequency == Frequency.WEEK and schedule.week_days:
        return f"{every} on {', '.join(schedule.week_days)}"
    if schedule.frequency == Frequency.MONTH and schedule.month_days:
        return f"{every} on {_day_words(list(schedule.month_days))}"
    if schedule.frequency == Frequency.MONTH and schedule.monthly_occurrences:
        said = [
            f"{OCCURRENCE_WORDS.get(o['occurrence'], o['occurrence'])} {o['day']}" for o in schedule.monthly_occurrences
        ]
        return f"{every} on the {', '.join(said)}"
    return every


@register.filter
def schedule_status(schedule) -> str:
    """Expired (it fires no more, whatever else it says), Enabled or Disabled."""
    if schedule.expiry_time is not None and schedule.expiry_time <= timezone.now():
        return "Expired"
    return "Enabled" if schedule.enabled else "Disabled"


@register.filter
def minutes_late(job) -> int | None:
    """How many whole minutes after its fire time a scheduled job was queued, when that is more than a minute
    (a fire the scheduler took late, within the grace period); None otherwise."""
    planned, queued = getattr(job, "scheduled_for", None), getattr(job, "queued_at", None) or job.created_at
    if planned is None or queued is None or queued - planned <= timedelta(minutes=1):
        return None
    return int((queued - planned).total_seconds() // 60)

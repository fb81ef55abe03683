"""Schedules and their links to runbooks (Azure's job schedules).

Writes need an Operator or Owner; a Reader gets PermissionDenied and a stranger NotFound. Every field is
checked before anything is written (InvalidInput names it), so a refusal leaves nothing behind. A
schedule's `next_run` is kept here, from the rule and the clock: the beat (services/schedule_firing.py)
fires what is due and moves it on.
"""

import functools
import uuid
import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from automation import live
from automation.models import (
    AutomationAccount,
    Frequency,
    Overlap,
    Role,
    Runbook,
    Schedule,
    ScheduleLink,
)
from automation.services import assets, recurrence
from automation.services.access import require_role
from automation.services.actor import Actor
from automation.services.assets import UNSET
from automation.services.audit import record_event
from automation.services.checks import checked_bool, checked_name, instant
from automation.services.errors import Conflict, InvalidInput, NotFound
from automation.services.jobs import _group_to_run_on, split_secrets
from automation.services.runbooks import checked_job_parameters, latest_version
from automation.validators import NAME_RULE, is_name

MAX_NEXT_RUNS = 100
# The largest interval of each frequency: ten years of months, weeks or days, a year of hours or minutes.
MAX_INTERVAL = {
    Frequency.ONE_TIME: 1,
    Frequency.MINUTE: 525_600,
    Frequency.HOUR: 8_760,
    Frequency.DAY: 3_650,
    Frequency.WEEK: 520,
    Frequency.MONTH: 120,
}
# A fire due this very second still fires when the schedule is saved in that second.
_JUST_NOW = timedelta(seconds=1)
RULE_FIELDS = (
    "start_time",
    "time_zone",
    "frequency",
    "interval",
    "week_days",
    "month_days",
    "monthly_occurrences",
    "expiry_time",
)


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


# ---- checks ----


def checked_time(value: Any, *, field: str, allow_none: bool = False) -> datetime | None:
    """An aware datetime, or ISO 8601 text with its offset; whole seconds (a fire's key is its time)."""
    if value is None and allow_none:
        return None
    moment = instant(value)
    if moment is not None:
        return moment.replace(microsecond=0)
    empty = " or null" if allow_none else ""
    raise InvalidInput(
        f"{field} is an ISO 8601 date and time with its UTC offset (e.g. 2026-11-25T02:30:00+01:00){empty}.",
        field=field,
    )


def checked_time_zone(value: Any) -> str:
    if not isinstance(value, str) or value not in _zones():
        raise InvalidInput(
            "time_zone is an IANA time zone name, such as Europe/Berlin, America/New_York or UTC.", field="time_zone"
        )
    return value


def _checked_interval(value: Any, frequency: str) -> int:
    most = MAX_INTERVAL[frequency]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        if frequency == Frequency.ONE_TIME:
            raise InvalidInput("interval of a OneTime schedule is 1.", field="interval")
        unit = frequency.lower() + "s"
        raise InvalidInput(f"interval is a whole number of {unit} from 1 to {most:,}.", field="interval")
    return value


def _only_with(frequency: str, field: str, value: Any, needed: str) -> None:
    if value and frequency != needed:
        raise InvalidInput(f"{field} is for a {needed} schedule only: leave it empty.", field=field)


def _checked_week_days(value: Any) -> tuple[str, ...]:
    days = recurrence.WEEK_DAYS
    if (
        not isinstance(value, list)
        or not all(isinstance(d, str) and d in days for d in value)
        or len(set(value)) != len(value)
    ):
        raise InvalidInput(f"week_days is a list of distinct day names: {', '.join(days)}.", field="week_days")
    return tuple(sorted(value, key=days.index))


def _checked_month_days(value: Any) -> tuple[int, ...]:
    allowed = [*range(1, 32), -1]
    if (
        not isinstance(value, list)
        or not all(isinstance(d, int) and not isinstance(d, bool) and d in allowed for d in value)
        or len(set(value)) != len(value)
    ):
        raise InvalidInput(
            "month_days is a list of distinct days from 1 to 31, and -1 for the last.", field="month_days"
        )
    return tuple(sorted(value, key=lambda d: 32 if d == -1 else d))


def _checked_occurrences(value: Any) -> tuple[tuple[str, int], ...]:
    rule = (
        'monthly_occurrences is a list of {"day": a day name, "occurrence": 1 to 4, or -1 for the last} '
        '(e.g. [{"day": "Monday", "occurrence": 1}] for the first Monday).'
    )
    if not isinstance(value, list):
        raise InvalidInput(rule, field="monthly_occurrences")
    clean = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"day", "occurrence"}:
            raise InvalidInput(rule, field="monthly_occurrences")
        day, occurrence = item["day"], item["occurrence"]
        if day not in recurrence.WEEK_DAYS or isinstance(occurrence, bool) or occurrence not in recurrence.OCCURRENCES:
            raise InvalidInput(rule, field="monthly_occurrences")
        clean.append((day, occurrence))
    if len(set(clean)) != len(clean):
        raise InvalidInput("monthly_occurrences names each occurrence once.", field="monthly_occurrences")
    return tuple(clean)


def checked_rule(
    *,
    start_time: Any,
    time_zone: Any = "UTC",
    frequency: Any,
    interval: Any = 1,
    week_days: Any = (),
    month_days: Any = (),
    monthly_occurrences: Any = (),
    expiry_time: Any = None,
) -> recurrence.Rule:
    """The rule the fields describe, or InvalidInput naming the first field at fault."""
    start = checked_time(start_time, field="start_time")
    zone = checked_time_zone(time_zone)
    if frequency not in Frequency.values:
        raise InvalidInput(f"frequency is one of {', '.join(Frequency.values)}.", field="frequency")
    interval = _checked_interval(interval, frequency)
    week_days = _checked_week_days(list(week_days) if isinstance(week_days, tuple) else week_days)
    month_days = _checked_month_days(list(month_days) if isinstance(month_days, tuple) else month_days)
    occurrences = _checked_occurrences(
        [{"day": d, "occurrence": n} for d, n in monthly_occurrences]
        if isinstance(monthly_occurrences, tuple)
        else monthly_occurrences
    )
    _only_with(frequency, "week_days", week_days, Frequency.WEEK)
    _only_with(frequency, "month_days", month_days, Frequency.MONTH)
    _only_with(frequency, "monthly_occurrences", occurrences, Frequency.MONTH)
    if month_days and occurrences:
        raise InvalidInput(
            "A Month schedule runs on month_days or on monthly_occurrences, not both.", field="monthly_occurrences"
        )
    expiry = checked_time(expiry_time, field="expiry_time", allow_none=True)
    if expiry is not None and expiry <= start:
        raise InvalidInput("expiry_time is after start_time.", field="expiry_time")
    return recurrence.Rule(
        start_time=start,
        time_zone=zone,
        frequency=frequency,
        interval=interval,
        week_days=week_days,
        month_days=month_days,
        monthly_occurrences=occurrences,
        expiry_time=expiry,
    )


def rule_of(schedule: Schedule) -> recurrence.Rule:
    return recurrence.Rule(
        start_time=schedule.start_time,
        time_zone=schedule.time_zone,
        frequency=schedule.frequency,
        interval=schedule.interval,
        week_days=tuple(schedule.week_days),
        month_days=tuple(schedule.month_days),
        monthly_occurrences=tuple((o["day"], o["occurrence"]) for o in schedule.monthly_occurrences),
        expiry_time=schedule.expiry_time,
    )


def _apply_rule(schedule: Schedule, rule: recurrence.Rule) -> None:
    schedule.start_time = rule.start_time
    schedule.time_zone = rule.time_zone
    schedule.frequency = rule.frequency
    schedule.interval = rule.interval
    schedule.week_days = list(rule.week_days)
    schedule.month_days = list(rule.month_days)
    schedule.monthly_occurrences = [{"day": d, "occurrence": n} for d, n in rule.monthly_occurrences]
    schedule.expiry_time = rule.expiry_time


def _next_run(schedule: Schedule, now: datetime) -> datetime | None:
    """From now on: a schedule changed or enabled again does not catch up on what it did not fire before."""
    if not schedule.enabled:
        return None
    return recurrence.next_fire(rule_of(schedule), after=now - _JUST_NOW)


def is_expired(schedule: Schedule, now: datetime | None = None) -> bool:
    return schedule.expiry_time is not None and schedule.expiry_time <= (now or timezone.now())


# ---- schedules ----


def _find(account: AutomationAccount, name: Any, *, lock: bool = False) -> Schedule:
    rows = Schedule.objects.filter(account=account)
    if lock:
        rows = rows.select_for_update()
    schedule = rows.filter(name__iexact=name).first() if is_name(name) else None
    if schedule is None:
        raise NotFound(f"There is no schedule named {name!r} in {account.name}.")
    schedule.account = account
    return schedule


def _announce(*, actor: Actor, account: AutomationAccount, schedule: Schedule, verb: str, details=None) -> None:
    record_event(actor=actor, action=f"schedule.{verb}", account=account, target=schedule, details=details)
    live.after_commit(live.push_to_account, account.pk, {"type": "schedules-changed", "schedule": schedule.name})


def create_schedule(
    *,
    account: AutomationAccount,
    name: Any,
    start_time: Any,
    frequency: Any,
    actor: Actor,
    time_zone: Any = "UTC",
    interval: Any = 1,
    week_days: Any = (),
    month_days: Any = (),
    monthly_occurrences: Any = (),
    expiry_time: Any = None,
    enabled: Any = True,
    description: Any = "",
    now: datetime | None = None,
) -> Schedule:
    require_role(account=account, actor=actor, role=Role.OPERATOR)
    checked_name(name)
    assets.checked_description(description)
    rule = checked_rule(
        start_time=start_time,
        time_zone=time_zone,
        frequency=frequency,
        interval=interval,
        week_days=week_days,
        month_days=month_days,
        monthly_occurrences=monthly_occurrences,
        expiry_time=expiry_time,
    )
    checked_bool(enabled, field="enabled")
    now = now or timezone.now()
    if rule.frequency == Frequency.ONE_TIME and rule.start_time < now - _JUST_NOW:
        raise InvalidInput("start_time of a OneTime schedule is in the future.", field="start_time")
    if Schedule.objects.filter(account=account, name__iexact=name).exists():
        raise _taken(account, name)
    schedule = Schedule(account=account, name=name, description=description, enabled=enabled)
    _apply_rule(schedule, rule)
    schedule.next_run = _next_run(schedule, now)
    schedule.created_by = schedule.updated_by = actor.name
    try:
        with transaction.atomic():
            schedule.save(force_insert=True)
            _announce(actor=actor, account=account, schedule=schedule, verb="create", details={"rule": rule.frequency})
    except IntegrityError:
        raise _taken(account, name) from None
    return schedule


def _taken(account: AutomationAccount, name: str) -> Conflict:
    return Conflict(f"A schedule named {name!r} already exists in {account.name}.", field="name")


def update_schedule(
    *,
    account: AutomationAccount,
    name: Any,
    actor: Actor,
    now: datetime | None = None,
    description: Any = UNSET,
    enabled: Any = UNSET,
    **rule_changes: Any,
) -> Schedule:
    """Change the fields given (rule fields: see RULE_FIELDS). A new frequency drops the day lists the caller
    did not give, which belonged to the old one. Enabling again keeps the start time: the next run is the
    rule's next fire from now."""
    require_role(account=account, actor=actor, role=Role.OPERATOR)
    unknown = set(rule_changes) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"update_schedule() got unexpected keyword arguments {sorted(unknown)}")
    rule_changes = {k: v for k, v in rule_changes.items() if v is not UNSET}
    if description is not UNSET:
        assets.checked_description(description)
    if enabled is not UNSET:
        checked_bool(enabled, field="enabled")
    now = now or timezone.now()
    with transaction.atomic():
        schedule = _find(account, name, lock=True)
        changed = []
        if rule_changes:
            current = {field: getattr(schedule, field) for field in RULE_FIELDS}
            if rule_changes.get("frequency", schedule.frequency) != schedule.frequency:
                current.update(week_days=[], month_days=[], monthly_occurrences=[])
            rule = checked_rule(**{**current, **rule_changes})
            before = rule_of(schedule)
            _apply_rule(schedule, rule)
            changed += [f for f in RULE_FIELDS if getattr(before, f) != getattr(rule, f)]
        if description is not UNSET and description != schedule.description:
            schedule.description = description
            changed.append("description")
        if enabled is not UNSET and enabled != schedule.enabled:
            schedule.enabled = enabled
            changed.append("enabled")
        if changed:
            schedule.next_run = _next_run(schedule, now)
            schedule.updated_by = actor.name
            schedule.save()
            verb = {"enabled": "enable" if schedule.enabled else "disable"}.get(changed[0], "change")
            verb = verb if changed == ["enabled"] else "change"
            _announce(actor=actor, account=account, schedule=schedule, verb=verb, details={"fields": changed})
    return schedule


def set_schedule_enabled(*, account: AutomationAccount, name: Any, enabled: bool, actor: Actor) -> Schedule:
    return update_schedule(account=account, name=name, enabled=enabled, actor=actor)


def delete_schedule(*, account: AutomationAccount, name: Any, actor: Actor) -> None:
    """The schedule and its links go, and with them every fire recorded or waiting: nothing fires after."""
    require_role(account=account, actor=actor, role=Role.OPERATOR)
    with transaction.atomic():
        schedule = _find(account, name, lock=True)
        runbooks = list(schedule.links.order_by("runbook__name").values_list("runbook__name", flat=True))
        _announce(actor=actor, account=account, schedule=schedule, verb="delete", details={"runbooks": runbooks})
        schedule.delete()


def next_runs(*, rule: recurrence.Rule, count: Any = 5, now: datetime | None = None) -> list[datetime]:
    """The next `count` fires (UTC) from now: a saved schedule's (rule_of) or a rule a form is still editing."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_NEXT_RUNS:
        raise InvalidInput(f"count is a whole number from 1 to {MAX_NEXT_RUNS}.", field="count")
    return recurrence.next_fires(rule, after=(now or timezone.now()) - _JUST_NOW, count=count)


def schedule_next_runs(*, schedule: Schedule, count: Any = 5, now: datetime | None = None) -> list[datetime]:
    """A saved schedule's next fires; none while it is disabled (it fires nothing)."""
    runs = next_runs(rule=rule_of(schedule), count=count, now=now)
    return runs if schedule.enabled else []


# ---- links ----


def _runbook(account: AutomationAccount, name: Any) -> Runbook:
    if not is_name(name):
        raise InvalidInput(f"runbook is not a runbook's name. {NAME_RULE}", field="runbook")
    runbook = Runbook.objects.filter(account=account, name=name).first()
    if runbook is None:
        raise InvalidInput(f"There is no runbook named {name!r} in {account.name}.", field="runbook")
    return runbook


def link_schedule(
    *,
    account: AutomationAccount,
    runbook_name: Any,
    schedule_name: Any,
    run_on: Any,
    actor: Actor,
    parameters: Any = None,
    overlap: Any = Overlap.ALLOW,
    from_text: bool = False,
) -> ScheduleLink:
    """Put a published runbook on a schedule with its own parameters (checked as Start checks them, against
    the published version; `from_text`: typed into a form, as Start's) and Run on group."""
    require_role(account=account, actor=actor, role=Role.OPERATOR)
    runbook = _runbook(account, runbook_name)
    if not is_name(schedule_name):
        raise InvalidInput(f"schedule is not a schedule's name. {NAME_RULE}", field="schedule")
    schedule = Schedule.objects.filter(account=account, name__iexact=schedule_name).first()
    if schedule is None:
        raise InvalidInput(f"There is no schedule named {schedule_name!r} in {account.name}.", field="schedule")
    version = latest_version(runbook)
    if version is None:
        raise InvalidInput(f"Runbook {runbook.name!r} has no published version: publish it first.", field="runbook")
    values = checked_job_parameters(version.parameters, parameters, from_text=from_text)
    group = _group_to_run_on(account, run_on)
    if overlap not in Overlap.values:
        raise InvalidInput(f"overlap is one of {', '.join(Overlap.values)}.", field="overlap")
    shown, sealed = split_secrets(version.parameters, values)
    link = ScheduleLink(
        schedule=schedule,
        runbook=runbook,
        parameters=shown,
        secret_parameters=sealed,
        run_on=group,
        run_on_name=group.name,
        overlap=overlap,
        created_by=actor.name,
    )
    refused = Conflict(
        f"Runbook {runbook.name!r} is already on schedule {schedule.name!r}: unlink it first to link it again.",
        field="schedule",
    )
    if ScheduleLink.objects.filter(schedule=schedule, runbook=runbook).exists():
        raise refused
    try:
        with transaction.atomic():
            # Locked: a link made while the beat fires this schedule takes its first fire after that one.
            Schedule.objects.select_for_update().filter(pk=schedule.pk).first()
            link.save(force_insert=True)
            details = {"runbook": runbook.name, "run_on": group.name, "overlap": overlap}
            _announce(actor=actor, account=account, schedule=schedule, verb="link", details=details)
    except IntegrityError:
        raise refused from None
    link.schedule, link.runbook = schedule, runbook
    return link


def unlink_schedule(*, account: AutomationAccount, runbook: Runbook, link_id: Any, actor: Actor) -> None:
    """Take the runbook off a schedule: its waiting fires go with the link, so nothing fires for it after."""
    require_role(account=account, actor=actor, role=Role.OPERATOR)
    try:
        link_id = uuid.UUID(str(link_id))
    except ValueError:
        raise NotFound(f"Runbook {runbook.name!r} has no schedule link {link_id!r}.") from None
    with transaction.atomic():
        link = (
            ScheduleLink.objects.select_for_update()
            .select_related("schedule")
            .filter(pk=link_id, runbook=runbook, schedule__account=account)
            .first()
        )
        if link is None:
            raise NotFound(f"Runbook {runbook.name!r} has no schedule link {link_id}.")
        details = {"runbook": runbook.name, "run_on": link.run_on_name}
        _announce(actor=actor, account=account, schedule=link.schedule, verb="unlink", details=details)
        link.delete()

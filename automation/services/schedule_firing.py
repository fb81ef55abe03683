"""Firing schedules: what Celery beat's tick does (automation.tasks.fire_schedules), any number at once.

Exactly once per fire: a tick takes each due schedule under its row lock (SKIP LOCKED: another tick passes it
by), and records every fire as a ScheduleFire unique by (link, fire time) in the same transaction that queues
its job and moves the schedule's next_run on. A second tick finds the schedule no longer due; were it to fire
the same instant anyway, the unique key would refuse the fire and roll its job back with it.

Missed fires (the scheduler was down): of the fires due at a tick, the latest runs, late, when it is less
than SCHEDULE_MISSED_GRACE_SECONDS old; every other one is recorded as one missed range per link, never
replayed in a burst. A link's overlap policy decides what a fire does while its previous job runs on.

Locks are taken schedule, runbook, link, in that order (a runbook's deletion takes runbook, then its links),
each link's runbook in id order, so two ticks or a tick and a deletion never wait on each other in a circle.
"""

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from automation import live
from automation.models import (
    FINAL_STATUSES,
    FireOutcome,
    Job,
    Overlap,
    Runbook,
    Schedule,
    ScheduleFire,
    ScheduleLink,
    StartedBy,
)
from automation.services import crypto, recurrence
from automation.services.actor import Actor
from automation.services.errors import InvalidInput, ServiceError
from automation.services.jobs import _queue
from automation.services.runbooks import checked_job_parameters, latest_version
from automation.services.schedules import rule_of

logger = logging.getLogger(__name__)

# A tick takes at most this many schedules; the rest are due at the next one (a tick stays short).
MAX_SCHEDULES_PER_TICK = 500


@dataclass
class TickResult:
    started: int = 0
    skipped: int = 0
    waiting: int = 0
    missed: int = 0
    failed: int = 0

    def count(self, outcome: str, n: int = 1) -> None:
        setattr(self, outcome, getattr(self, outcome) + n)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def fire_due_schedules(*, now: datetime | None = None) -> TickResult:
    """Fire what is due at `now` (a test travels it): waiting fires whose previous job ended first, then
    every schedule whose next_run has come."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.SCHEDULE_MISSED_GRACE_SECONDS)
    result = TickResult()
    _resume_waiting_fires(now, result)
    for _ in range(MAX_SCHEDULES_PER_TICK):
        with transaction.atomic():
            schedule = (
                Schedule.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("account")
                .filter(enabled=True, next_run__lte=now)
                .order_by("next_run")
                .first()
            )
            if schedule is None:
                break
            _fire_schedule(schedule, now, grace, result)
    return result


def _fire_schedule(schedule: Schedule, now: datetime, grace: timedelta, result: TickResult) -> None:
    rule = rule_of(schedule)
    count, last = recurrence.fires_through(rule, first=schedule.next_run, until=now)
    on_time = last is not None and now - last <= grace
    missed = count - 1 if on_time else count
    missed_until = last
    if on_time and missed:
        missed_until = recurrence.fires_through(rule, first=schedule.next_run, until=last - timedelta.resolution)[1]
    for link in _locked_links(schedule):
        if missed:
            _record_missed(link, first=schedule.next_run, until=missed_until, count=missed, result=result)
        if on_time:
            _fire_link(link, schedule, fire_time=last, now=now, result=result)
    # Strictly after now: a schedule is never due twice for one instant.
    next_run = recurrence.next_fire(rule, after=now)
    Schedule.objects.filter(pk=schedule.pk).update(next_run=next_run)
    live.after_commit(
        live.push_to_account, schedule.account_id, {"type": "schedules-changed", "schedule": schedule.name}
    )


def _locked_links(schedule: Schedule) -> list[ScheduleLink]:
    links = []
    for link_id, runbook_id in schedule.links.order_by("runbook_id").values_list("pk", "runbook_id"):
        link = _lock_link(link_id, runbook_id)
        if link is not None:
            link.schedule = schedule
            links.append(link)
    return links


def _lock_link(link_id, runbook_id, *, skip_locked: bool = False) -> ScheduleLink | None:
    """The link under its lock, its runbook's row locked first (see the module's note on order); None when
    either is gone (or, with skip_locked, held by another tick)."""
    if not Runbook.objects.select_for_update(skip_locked=skip_locked).filter(pk=runbook_id).exists():
        return None
    return (
        ScheduleLink.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        .select_related("runbook__account", "run_on", "last_job", "schedule")
        .filter(pk=link_id)
        .first()
    )


def _record(link: ScheduleLink, fire_time: datetime, result: TickResult, **fields: Any) -> ScheduleFire | None:
    """Insert the fire under its unique key; None if that fire is recorded already (then nothing else of it
    is written: the savepoint takes its job back too)."""
    try:
        with transaction.atomic():
            fire = ScheduleFire.objects.create(link=link, fire_time=fire_time, **fields)
    except IntegrityError:
        logger.warning("Fire %s of schedule link %s was recorded already", fire_time.isoformat(), link.pk)
        return None
    result.count(fire.outcome)
    return fire


def _record_missed(link: ScheduleLink, *, first: datetime, until: datetime, count: int, result: TickResult) -> None:
    reason = (
        f"The scheduler was not running: {count} fire(s) from {_shown(first, link)} to {_shown(until, link)} were "
        f"missed by more than the grace period ({settings.SCHEDULE_MISSED_GRACE_SECONDS} s), so they did not run."
    )
    _record(link, first, result, outcome=FireOutcome.MISSED, reason=reason, missed_count=count, missed_until=until)


def _shown(instant: datetime, link: ScheduleLink) -> str:
    return recurrence.local_time(instant, link.schedule.time_zone).isoformat()


def _fire_link(link: ScheduleLink, schedule: Schedule, *, fire_time: datetime, now: datetime, result) -> None:
    if link.overlap != Overlap.ALLOW:
        previous = link.last_job
        waiting = ScheduleFire.objects.filter(link=link, outcome=FireOutcome.WAITING).exists()
        if (previous is not None and previous.status not in FINAL_STATUSES) or waiting:
            if link.overlap == Overlap.SKIP:
                reason = f"Skipped: the previous job {previous.pk} of this link was still {previous.status}."
                _record(link, fire_time, result, outcome=FireOutcome.SKIPPED, reason=reason, job=previous)
            else:
                what = f"job {previous.pk} ({previous.status})" if previous is not None else "an earlier fire"
                _record(link, fire_time, result, outcome=FireOutcome.WAITING, reason=f"Waits for {what} to end.")
            return
    with transaction.atomic():
        fire = _record(link, fire_time, TickResult(), outcome=FireOutcome.STARTED)
        if fire is not None:
            _start(fire, link, schedule, now=now, result=result)


def _start(fire: ScheduleFire, link: ScheduleLink, schedule: Schedule, *, now: datetime, result) -> None:
    """Queue the fire's job and say so on the fire; a job that cannot start makes the fire failed, with why."""
    try:
        job = _queue_job(link, schedule, fire.fire_time)
    except ServiceError as exc:
        _failed(fire, f"No job started: {exc.detail}", result)
        return
    except Exception:
        # Recorded as failed rather than raised: a fire that raises would be due again at every tick.
        logger.exception("Fire %s of schedule link %s could not start its job", fire.fire_time.isoformat(), link.pk)
        _failed(fire, "No job started: the server failed to queue it (its log has the error).", result)
        return
    late = now - fire.fire_time
    fire.outcome, fire.job = FireOutcome.STARTED, job
    fire.reason = f"Started {int(late.total_seconds())} s late." if late >= timedelta(seconds=1) else ""
    fire.save(update_fields=["outcome", "job", "reason"])
    ScheduleLink.objects.filter(pk=link.pk).update(last_job=job)
    link.last_job = job
    result.count(FireOutcome.STARTED)


def _failed(fire: ScheduleFire, reason: str, result: TickResult) -> None:
    fire.outcome, fire.reason = FireOutcome.FAILED, reason
    fire.save(update_fields=["outcome", "reason"])
    result.count(FireOutcome.FAILED)


def _queue_job(link: ScheduleLink, schedule: Schedule, fire_time: datetime) -> Job:
    """A normal job of the runbook's published version at this moment, on the link's group: it waits with the
    usual reason when no worker is free. The link's parameters are checked again: the runbook may have been
    published since with other ones."""
    runbook = link.runbook
    version = latest_version(runbook)
    if version is None:
        raise InvalidInput(f"Runbook {runbook.name!r} has no published version.")
    group = link.run_on
    if group is None or group.deleting_since is not None:
        raise InvalidInput(f"Hybrid worker group {link.run_on_name!r} no longer exists: link the runbook again.")
    secrets = json.loads(crypto.decrypt(link.secret_parameters) or "{}") if link.secret_parameters else {}
    values = checked_job_parameters(version.parameters, {**link.parameters, **secrets})
    job = _queue(
        runbook=runbook,
        group=group,
        actor=Actor(user=None, label=f"schedule {schedule.name}"[:150]),
        declaration=version.parameters,
        values=values,
        timeout_seconds=runbook.timeout_seconds,
        version=version,
        started_by=(StartedBy.SCHEDULE, schedule.name),
    )
    Job.objects.filter(pk=job.pk).update(scheduled_for=fire_time)
    job.scheduled_for = fire_time
    return job


def _resume_waiting_fires(now: datetime, result: TickResult) -> None:
    """A queue link's oldest waiting fire starts once the link's previous job has ended (one per link a tick:
    the job it starts is the next one the link waits for)."""
    waiting = (
        ScheduleFire.objects.filter(outcome=FireOutcome.WAITING)
        .values_list("link_id", "link__runbook_id")
        .distinct()
        .order_by("link__runbook_id")
    )
    for link_id, runbook_id in list(waiting):
        with transaction.atomic():
            link = _lock_link(link_id, runbook_id, skip_locked=True)
            if link is None or (link.last_job is not None and link.last_job.status not in FINAL_STATUSES):
                continue
            fire = (
                ScheduleFire.objects.select_for_update()
                .filter(link=link, outcome=FireOutcome.WAITING)
                .order_by("fire_time")
                .first()
            )
            if fire is not None:
                _start(fire, link, link.schedule, now=now, result=result)

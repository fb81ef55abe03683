"""Firing schedules (automation/services/schedule_firing.py) on a travelled clock: `now` is handed to each
tick, so nothing here waits or reads the wall clock."""

from datetime import UTC, datetime, timedelta

import pytest

from automation.models import AuditEvent, FireOutcome, Job, JobStatus, Schedule, ScheduleFire, StartedBy
from automation.queries.waiting import annotate_waiting_reasons, status_reason
from automation.services import schedules as svc
from automation.services.actor import Actor
from automation.services.jobs import request_stop
from automation.services.runbooks import publish_runbook, update_draft
from automation.services.schedule_firing import fire_due_schedules
from automation.tasks import fire_schedules
from tests.support.builders import make_group, make_runbook

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db]

SYSTEM = Actor.for_system()
T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # 02:30 in Berlin
DECLARED = [{"name": "Target", "type": "string", "required": True}, {"name": "Token", "type": "secret"}]


@pytest.fixture
def world(people):
    make_group(people.account, "lab")
    make_runbook(people.account, "backup", parameters=DECLARED, content="echo $@")
    return people


def schedule(people, name="Nightly", *, frequency="Day", start=T0, **fields) -> Schedule:
    return svc.create_schedule(
        account=people.account,
        name=name,
        start_time=start,
        time_zone="Europe/Berlin",
        frequency=frequency,
        actor=SYSTEM,
        now=start - timedelta(minutes=1),
        **fields,
    )


def link(people, name="Nightly", runbook="backup", **fields):
    values = {"parameters": {"Target": "db", "Token": "tok-123"}, "run_on": "lab"}
    return svc.link_schedule(
        account=people.account, runbook_name=runbook, schedule_name=name, actor=SYSTEM, **{**values, **fields}
    )


def fires(**filters) -> list[tuple]:
    return list(ScheduleFire.objects.filter(**filters).order_by("fire_time").values_list("fire_time", "outcome"))


def test_a_due_fire_starts_one_normal_job_that_says_who_started_it(world):
    schedule(world)
    made = link(world)

    result = fire_due_schedules(now=T0)

    job = Job.objects.get()
    assert result.started == 1
    assert (job.runbook_name, job.group_name, job.status) == ("backup", "lab", JobStatus.QUEUED)
    assert (job.started_by_kind, job.started_by) == (StartedBy.SCHEDULE, "Nightly")
    assert job.parameters == {"Target": "db", "Token": "******"} and "tok-123" not in job.secret_parameters
    assert job.scheduled_for == T0 and job.version_number == 1
    assert fires() == [(T0, FireOutcome.STARTED)]
    assert ScheduleFire.objects.get().job == job
    made.refresh_from_db()
    assert made.last_job == job
    event = AuditEvent.objects.get(action="job.start")
    assert event.actor_name == "schedule Nightly"
    assert Schedule.objects.get().next_run == T0 + timedelta(days=1)
    # No worker in the group: it waits, and says why, as any job does.
    annotate_waiting_reasons([job])
    assert status_reason(job)


def test_a_fire_runs_the_version_published_at_that_moment(world):
    schedule(world)
    link(world)
    runbook = world.account.runbooks.get(name="backup")
    update_draft(runbook=runbook, content="echo v2", actor=SYSTEM)
    publish_runbook(runbook=runbook, actor=SYSTEM)

    fire_due_schedules(now=T0)

    assert Job.objects.get().version_number == 2


def test_ticking_again_at_the_same_moment_fires_nothing_more(world):
    schedule(world)
    link(world)

    fire_due_schedules(now=T0)
    again = fire_due_schedules(now=T0 + timedelta(seconds=3))

    assert again.as_dict() == {"started": 0, "skipped": 0, "waiting": 0, "missed": 0, "failed": 0}
    assert Job.objects.count() == 1


def test_the_unique_key_refuses_a_second_fire_of_the_same_instant_and_its_job(world):
    schedule(world)
    link(world)
    fire_due_schedules(now=T0)
    # As if a second tick had read the schedule before the first one moved it on.
    Schedule.objects.update(next_run=T0)

    result = fire_due_schedules(now=T0)

    assert result.started == 0 and Job.objects.count() == 1 and ScheduleFire.objects.count() == 1


def test_nothing_fires_before_its_time_nor_while_disabled(world):
    schedule(world)
    link(world)
    assert fire_due_schedules(now=T0 - timedelta(seconds=1)).started == 0

    svc.update_schedule(account=world.account, name="Nightly", enabled=False, actor=SYSTEM, now=T0)
    assert fire_due_schedules(now=T0 + timedelta(hours=1)).started == 0
    assert not Job.objects.exists()


def test_every_link_of_a_schedule_fires_with_its_own_parameters_and_group(world):
    schedule(world)
    make_group(world.account, "dmz")
    make_runbook(world.account, "report")
    link(world)
    link(world, runbook="report", parameters={}, run_on="dmz")

    fire_due_schedules(now=T0)

    assert sorted(Job.objects.values_list("runbook_name", "group_name")) == [("backup", "lab"), ("report", "dmz")]


def test_a_fire_late_within_the_grace_period_runs_once_and_says_so(world, settings):
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 300
    schedule(world)
    link(world)

    fire_due_schedules(now=T0 + timedelta(minutes=4))

    job = Job.objects.get()
    fire = ScheduleFire.objects.get()
    assert job.scheduled_for == T0 and job.queued_at > job.scheduled_for
    assert (fire.outcome, fire.reason) == (FireOutcome.STARTED, "Started 240 s late.")


def test_a_fire_missed_by_more_than_the_grace_period_is_recorded_and_not_run(world, settings):
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 300
    schedule(world)
    link(world)

    result = fire_due_schedules(now=T0 + timedelta(minutes=6))

    assert result.missed == 1 and not Job.objects.exists()
    fire = ScheduleFire.objects.get()
    assert (fire.outcome, fire.missed_count, fire.missed_until) == (FireOutcome.MISSED, 1, T0)
    assert "grace period (300 s)" in fire.reason
    assert Schedule.objects.get().next_run == T0 + timedelta(days=1)


def test_after_a_long_outage_the_latest_fire_runs_and_the_rest_are_one_missed_range(world, settings):
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 300
    start = T0
    schedule(world, "Often", frequency="Minute", interval=1, start=start)
    link(world, "Often")

    # The scheduler was down three hours; back two minutes after a fire.
    back = start + timedelta(hours=3, minutes=2, seconds=30)
    result = fire_due_schedules(now=back)

    assert result.as_dict() == {"started": 1, "skipped": 0, "waiting": 0, "missed": 1, "failed": 0}
    missed, started = ScheduleFire.objects.order_by("fire_time")
    assert (missed.outcome, missed.fire_time, missed.missed_until) == (
        FireOutcome.MISSED,
        start,
        start + timedelta(hours=3, minutes=1),
    )
    assert missed.missed_count == 3 * 60 + 2
    assert (started.outcome, started.fire_time) == (FireOutcome.STARTED, start + timedelta(hours=3, minutes=2))
    assert Job.objects.count() == 1
    assert Schedule.objects.get().next_run == start + timedelta(hours=3, minutes=3)


def test_overlap_allow_starts_a_job_at_every_fire(world):
    schedule(world, "Often", frequency="Hour")
    link(world, "Often")

    fire_due_schedules(now=T0)
    fire_due_schedules(now=T0 + timedelta(hours=1))

    assert Job.objects.filter(status=JobStatus.QUEUED).count() == 2


def test_overlap_skip_starts_nothing_while_the_previous_job_runs_and_records_why(world):
    schedule(world, "Often", frequency="Hour")
    link(world, "Often", overlap="skip")
    fire_due_schedules(now=T0)
    first = Job.objects.get()

    result = fire_due_schedules(now=T0 + timedelta(hours=1))

    assert result.skipped == 1 and Job.objects.count() == 1
    skipped = ScheduleFire.objects.get(outcome=FireOutcome.SKIPPED)
    assert str(first.pk) in skipped.reason and "Queued" in skipped.reason

    request_stop(job=first, actor=SYSTEM)  # ended: the next fire runs again
    fire_due_schedules(now=T0 + timedelta(hours=2))
    assert Job.objects.count() == 2


def test_overlap_queue_waits_for_the_previous_job_and_then_starts_in_order(world):
    schedule(world, "Often", frequency="Hour")
    link(world, "Often", overlap="queue")
    fire_due_schedules(now=T0)
    first = Job.objects.get()

    fire_due_schedules(now=T0 + timedelta(hours=1))
    fire_due_schedules(now=T0 + timedelta(hours=2))

    assert Job.objects.count() == 1
    assert [o for _, o in fires()] == [FireOutcome.STARTED, FireOutcome.WAITING, FireOutcome.WAITING]
    request_stop(job=first, actor=SYSTEM)

    fire_due_schedules(now=T0 + timedelta(hours=2, seconds=5))

    second = Job.objects.exclude(pk=first.pk).get()
    assert second.scheduled_for == T0 + timedelta(hours=1)
    assert [o for _, o in fires()] == [FireOutcome.STARTED, FireOutcome.STARTED, FireOutcome.WAITING]
    # A fire arriving while older ones wait waits behind them, even if the previous job has ended.
    request_stop(job=second, actor=SYSTEM)
    fire_due_schedules(now=T0 + timedelta(hours=3))
    assert Job.objects.count() == 3
    assert [o for _, o in fires()][-1] == FireOutcome.WAITING


def test_a_fire_whose_job_cannot_start_is_failed_with_the_reason(world):
    schedule(world)
    link(world)
    runbook = world.account.runbooks.get(name="backup")
    update_draft(
        runbook=runbook,
        parameters=[*DECLARED, {"name": "Region", "type": "string", "required": True}],
        actor=SYSTEM,
    )
    publish_runbook(runbook=runbook, actor=SYSTEM)

    result = fire_due_schedules(now=T0)

    fire = ScheduleFire.objects.get()
    assert result.failed == 1 and not Job.objects.exists()
    assert fire.outcome == FireOutcome.FAILED and "Region" in fire.reason and "required" in fire.reason


def test_a_one_time_schedule_fires_once_and_then_has_no_next_run(world):
    schedule(world, "Once", frequency="OneTime")
    link(world, "Once")

    fire_due_schedules(now=T0)
    fire_due_schedules(now=T0 + timedelta(days=3))

    assert Job.objects.count() == 1
    assert Schedule.objects.get().next_run is None


def test_an_expired_schedule_fires_no_more(world):
    schedule(world, expiry_time=T0 + timedelta(days=1))
    link(world)

    fire_due_schedules(now=T0)
    fire_due_schedules(now=T0 + timedelta(days=1))

    assert Job.objects.count() == 1 and Schedule.objects.get().next_run is None


def test_a_deleted_schedule_leaves_no_fire_behind(world):
    schedule(world, "Often", frequency="Hour")
    link(world, "Often", overlap="queue")
    fire_due_schedules(now=T0)
    fire_due_schedules(now=T0 + timedelta(hours=1))
    svc.delete_schedule(account=world.account, name="Often", actor=SYSTEM)
    request_stop(job=Job.objects.get(), actor=SYSTEM)

    fire_due_schedules(now=T0 + timedelta(hours=5))

    assert Job.objects.count() == 1 and not ScheduleFire.objects.exists()


def test_the_beat_task_fires_what_is_due_now(world):
    now = datetime.now(UTC).replace(microsecond=0)
    svc.create_schedule(
        account=world.account,
        name="Just now",
        start_time=now - timedelta(seconds=10),
        frequency="OneTime",
        actor=SYSTEM,
        now=now - timedelta(seconds=20),
    )
    link(world, "Just now")

    assert fire_schedules()["started"] == 1
    assert Job.objects.get().scheduled_for == now - timedelta(seconds=10)


def test_the_beat_ticks_every_schedule_tick_seconds_with_a_five_minute_grace_by_default(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["fire-schedules"]

    assert entry["task"] == fire_schedules.name
    assert entry["schedule"] == settings.SCHEDULE_TICK_SECONDS == 5.0
    assert settings.SCHEDULE_MISSED_GRACE_SECONDS == 300

"""Schedules and their links to runbooks (automation/services/schedules.py, automation/queries/schedules.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from automation.models import AuditEvent, Job, Schedule, ScheduleFire, ScheduleLink
from automation.queries.schedules import links_of_runbook, list_schedules, schedule_detail
from automation.services import schedules as svc
from automation.services.actor import Actor
from automation.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from automation.services.runbooks import delete_runbook
from tests.support.builders import make_group, make_runbook

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db]

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DECLARED = [
    {"name": "Target", "type": "string", "required": True},
    {"name": "Token", "type": "secret", "required": False},
    {"name": "Count", "type": "int", "required": False, "default": 1},
]
VALID = {
    "name": "Nightly",
    "start_time": "2026-03-02T02:30:00+01:00",
    "time_zone": "Europe/Berlin",
    "frequency": "Day",
}


def as_user(user) -> Actor:
    return Actor(user=user, ip="203.0.113.9")


def create(people, user=None, **fields) -> Schedule:
    return svc.create_schedule(
        account=people.account, actor=as_user(user or people.operator), now=NOW, **{**VALID, **fields}
    )


@pytest.fixture
def world(people):
    make_group(people.account, "lab")
    make_runbook(people.account, "backup", parameters=DECLARED, content="echo $@")
    return people


# ---- schedules ----


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_an_owner_or_operator_creates_a_schedule_with_its_next_run(people, role):
    schedule = create(people, people.by_role[role])

    assert schedule.next_run == datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    assert schedule.created_by == people.by_role[role].username
    event = AuditEvent.objects.get(action="schedule.create")
    assert event.target_name == "Nightly" and event.actor_name == people.by_role[role].username


def test_a_reader_may_not_create_and_a_stranger_does_not_see_the_account(people):
    with pytest.raises(PermissionDenied):
        create(people, people.reader)
    with pytest.raises(NotFound):
        create(people, people.stranger)
    assert not Schedule.objects.exists()


BAD = [
    ("name", ""),
    ("name", "a/b"),
    ("description", 7),
    ("start_time", "tomorrow"),
    ("start_time", "2026-03-02T02:30:00"),  # no offset
    ("start_time", 1_700_000_000),
    ("time_zone", "Mars/Olympus"),
    ("time_zone", "../etc/passwd"),
    ("frequency", "Fortnight"),
    ("interval", 0),
    ("interval", True),
    ("interval", "2"),
    ("interval", 10_000),
    ("week_days", ["Monday"]),  # not a Week schedule
    ("month_days", [1]),
    ("monthly_occurrences", [{"day": "Monday", "occurrence": 1}]),
    ("expiry_time", "2026-03-01T00:00:00Z"),  # before the start
    ("enabled", "yes"),
]


@pytest.mark.parametrize(("field", "value"), BAD, ids=[f"{f}={v!r}" for f, v in BAD])
def test_each_bad_field_is_refused_by_name_and_nothing_is_written(people, field, value):
    with pytest.raises(InvalidInput) as refused:
        create(people, **{field: value})

    assert refused.value.field == field
    assert not Schedule.objects.exists() and not AuditEvent.objects.filter(action__startswith="schedule").exists()


BAD_DAYS = [
    ("Week", "week_days", ["Someday"]),
    ("Week", "week_days", ["Monday", "Monday"]),
    ("Month", "month_days", [0]),
    ("Month", "month_days", [32]),
    ("Month", "month_days", [-2]),
    ("Month", "monthly_occurrences", [{"day": "Monday", "occurrence": 5}]),
    ("Month", "monthly_occurrences", [{"day": "Monday"}]),
    ("Month", "monthly_occurrences", "first Monday"),
]


@pytest.mark.parametrize(("frequency", "field", "value"), BAD_DAYS)
def test_day_lists_are_checked(people, frequency, field, value):
    with pytest.raises(InvalidInput) as refused:
        create(people, frequency=frequency, **{field: value})
    assert refused.value.field == field


def test_a_month_schedule_runs_on_days_or_occurrences_not_both(people):
    with pytest.raises(InvalidInput) as refused:
        create(people, frequency="Month", month_days=[1], monthly_occurrences=[{"day": "Friday", "occurrence": -1}])
    assert refused.value.field == "monthly_occurrences"


def test_a_one_time_schedule_in_the_past_is_refused(people):
    with pytest.raises(InvalidInput) as refused:
        create(people, frequency="OneTime", start_time="2026-02-01T00:00:00Z")
    assert refused.value.field == "start_time"


def test_a_recurring_schedule_may_start_in_the_past_and_runs_from_now(people):
    schedule = create(people, start_time="2020-01-01T02:30:00+01:00")

    assert schedule.next_run == datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def test_names_are_unique_in_the_account_whatever_their_case(people):
    create(people)
    with pytest.raises(Conflict):
        create(people, name="NIGHTLY")
    svc.create_schedule(account=people.other_account, actor=as_user(people.stranger), now=NOW, **VALID)
    assert Schedule.objects.count() == 2


def test_disabling_clears_the_next_run_and_enabling_again_keeps_the_start_time(people):
    schedule = create(people, start_time="2026-01-01T02:30:00+01:00")
    account, actor = people.account, as_user(people.operator)

    off = svc.update_schedule(account=account, name="nightly", enabled=False, actor=actor, now=NOW)
    assert off.next_run is None
    later = NOW + timedelta(days=10)
    on = svc.update_schedule(account=account, name="Nightly", enabled=True, actor=actor, now=later)

    assert on.start_time == schedule.start_time
    assert on.next_run == datetime(2026, 3, 12, 1, 30, tzinfo=UTC)
    assert list(
        AuditEvent.objects.filter(action__in=["schedule.enable", "schedule.disable"])
        .values_list("action", flat=True)
        .order_by("created_at")
    ) == ["schedule.disable", "schedule.enable"]


def test_a_new_frequency_drops_the_day_lists_of_the_old_one(people):
    create(people, frequency="Week", week_days=["Monday", "Friday"])

    changed = svc.update_schedule(
        account=people.account, name="Nightly", frequency="Hour", interval=6, actor=as_user(people.owner), now=NOW
    )

    assert (changed.frequency, changed.interval, changed.week_days) == ("Hour", 6, [])
    event = AuditEvent.objects.get(action="schedule.change")
    assert event.details["fields"] == ["frequency", "interval", "week_days"]


def test_a_refused_change_leaves_the_schedule_as_it_was(people):
    before = create(people)

    with pytest.raises(InvalidInput):
        svc.update_schedule(
            account=people.account, name="Nightly", interval=2, time_zone="Nowhere", actor=as_user(people.owner)
        )

    after = Schedule.objects.get()
    assert (after.interval, after.time_zone, after.next_run) == (1, "Europe/Berlin", before.next_run)


def test_next_runs_of_a_rule_not_yet_saved_and_of_a_schedule(people):
    rule = svc.checked_rule(start_time="2026-03-02T09:00:00+01:00", time_zone="Europe/Berlin", frequency="Week")

    assert len(svc.next_runs(rule=rule, count=100, now=NOW)) == 100
    for count in (0, 101, "5", True):
        with pytest.raises(InvalidInput):
            svc.next_runs(rule=rule, count=count, now=NOW)
    schedule = create(people, enabled=False)
    assert svc.schedule_next_runs(schedule=schedule, count=5, now=NOW) == []


# ---- links ----


def link(people, user=None, **fields):
    values = {"runbook_name": "backup", "schedule_name": "Nightly", "run_on": "lab", "parameters": {"Target": "db"}}
    return svc.link_schedule(account=people.account, actor=as_user(user or people.operator), **{**values, **fields})


def test_a_link_keeps_its_parameters_with_secrets_sealed_and_masked(world):
    create(world)

    made = link(world, parameters={"Target": "db", "Token": "s3cr3t-value"}, overlap="skip")

    stored = ScheduleLink.objects.get()
    assert stored.pk == made.pk and stored.overlap == "skip" and stored.run_on_name == "lab"
    assert stored.parameters == {"Target": "db", "Token": "******", "Count": 1}
    assert "s3cr3t-value" not in stored.secret_parameters
    assert "s3cr3t-value" not in str(list(AuditEvent.objects.values_list("details", flat=True)))
    assert AuditEvent.objects.get(action="schedule.link").details == {
        "runbook": "backup",
        "run_on": "lab",
        "overlap": "skip",
    }


BAD_LINKS = [
    ({"parameters": {}}, "Target"),  # required
    ({"parameters": {"Target": "db", "Nope": 1}}, "Nope"),
    ({"parameters": {"Target": "db", "Count": "three"}}, "Count"),
    ({"run_on": "no-such-group"}, "run_on"),
    ({"overlap": "sometimes"}, "overlap"),
    ({"schedule_name": "Weekly"}, "schedule"),
    ({"runbook_name": "nope"}, "runbook"),
]


@pytest.mark.parametrize(("fields", "field"), BAD_LINKS)
def test_a_link_is_checked_like_a_start(world, fields, field):
    create(world)

    with pytest.raises(InvalidInput) as refused:
        link(world, **fields)

    assert refused.value.field == field
    assert not ScheduleLink.objects.exists()


def test_only_a_published_runbook_is_linked_and_only_once_per_schedule(world):
    create(world)
    make_runbook(world.account, "draft-only", publish=False)
    with pytest.raises(InvalidInput) as refused:
        link(world, runbook_name="draft-only", parameters={})
    assert refused.value.field == "runbook"

    link(world)
    with pytest.raises(Conflict):
        link(world)
    with pytest.raises(PermissionDenied):
        link(world, world.reader)


def test_many_to_many_a_runbook_on_schedules_a_schedule_on_runbooks(world):
    create(world)
    create(world, name="Weekly", frequency="Week")
    make_runbook(world.account, "report")
    link(world)
    link(world, schedule_name="weekly")
    link(world, runbook_name="report", parameters={})

    assert [entry.schedule.name for entry in links_of_runbook(world.account.runbooks.get(name="backup"))] == [
        "Nightly",
        "Weekly",
    ]
    assert {s.name: s.link_count for s in list_schedules(world.account)} == {"Nightly": 2, "Weekly": 1}


def test_unlinking_takes_the_runbook_off_and_leaves_no_fire(world):
    create(world)
    made = link(world)
    ScheduleFire.objects.create(link=made, fire_time=NOW, outcome="waiting")
    runbook = world.account.runbooks.get(name="backup")

    with pytest.raises(NotFound):
        svc.unlink_schedule(account=world.account, runbook=runbook, link_id="not-a-uuid", actor=as_user(world.owner))
    svc.unlink_schedule(account=world.account, runbook=runbook, link_id=made.pk, actor=as_user(world.owner))

    assert not ScheduleLink.objects.exists() and not ScheduleFire.objects.exists()
    assert AuditEvent.objects.filter(action="schedule.unlink").count() == 1


def test_deleting_a_schedule_or_a_runbook_removes_its_links_and_their_fires(world):
    create(world)
    create(world, name="Weekly", frequency="Week")
    first = link(world)
    link(world, schedule_name="Weekly")
    ScheduleFire.objects.create(link=first, fire_time=NOW, outcome="waiting")

    svc.delete_schedule(account=world.account, name="nightly", actor=as_user(world.operator))
    assert list(ScheduleLink.objects.values_list("schedule__name", flat=True)) == ["Weekly"]
    assert not ScheduleFire.objects.exists()
    assert AuditEvent.objects.get(action="schedule.delete").details == {"runbooks": ["backup"]}

    delete_runbook(runbook=world.account.runbooks.get(name="backup"), actor=as_user(world.owner))
    assert not ScheduleLink.objects.exists()
    assert Schedule.objects.get().name == "Weekly"
    assert not Job.objects.exists()


# ---- queries ----


def test_the_list_and_one_schedule_cost_a_fixed_number_of_queries(world):
    for n in range(3):
        create(world, name=f"s{n}")
        link(world, schedule_name=f"s{n}")
    for n in range(3, 12):
        create(world, name=f"s{n}")
    made = ScheduleLink.objects.get(schedule__name="s0")
    ScheduleFire.objects.bulk_create(
        [ScheduleFire(link=made, fire_time=NOW + timedelta(minutes=i), outcome="missed") for i in range(30)]
    )

    with CaptureQueriesContext(connection) as listed:
        rows = [(s.name, s.link_count, s.next_run) for s in list_schedules(world.account)]
    with CaptureQueriesContext(connection) as detailed:
        one = schedule_detail(world.account, "S0")
        shown = [(x.runbook.name, x.run_on_name, x.last_job) for x in one.link_list]
        fires = [(f.link.runbook.name, f.job) for f in one.recent_fires]

    assert len(rows) == 12 and len(listed.captured_queries) == 1
    assert shown == [("backup", "lab", None)] and len(fires) == 20
    assert len(detailed.captured_queries) == 3

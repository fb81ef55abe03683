"""Management API for schedules and a runbook's links to them: the names scripts depend on, roles, strangers,
bad input that names its field and writes nothing, secrets in no answer."""

import pytest

from automation.models import AuditEvent, Schedule, ScheduleLink
from automation.services.actor import Actor
from automation.services.schedules import create_schedule, link_schedule
from tests.automation.api.helpers import assert_error, is_uuid
from tests.automation.api.runbooks_support import client_for
from tests.support.builders import make_group, make_runbook
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SYSTEM = Actor.for_system()
SCHEDULE_KEYS = {
    "name",
    "description",
    "start_time",
    "time_zone",
    "frequency",
    "interval",
    "week_days",
    "month_days",
    "monthly_occurrences",
    "expiry_time",
    "enabled",
    "next_run",
    "expired",
    "links",
    "created_at",
    "updated_at",
}
LINK_KEYS = {"id", "schedule", "runbook", "parameters", "run_on", "overlap", "next_run", "last_job", "created_at"}
BODY = {
    "name": "Nightly backup",
    "start_time": "2030-03-02T02:30:00+01:00",
    "time_zone": "Europe/Berlin",
    "frequency": "Week",
    "week_days": ["Monday", "Thursday"],
}
DECLARED = [{"name": "Target", "type": "string", "required": True}, {"name": "Token", "type": "secret"}]


@pytest.fixture
def world(people):
    make_group(people.account, "lab")
    make_runbook(people.account, "backup", parameters=DECLARED)
    create_schedule(
        account=people.account, name="Daily", start_time="2030-01-01T06:00:00Z", frequency="Day", actor=SYSTEM
    )
    return people


def url(people, rest: str = "") -> str:
    return f"/api/v1/accounts/{people.account.pk}/{rest}"


def test_a_schedule_is_created_read_changed_and_deleted(world):
    owner = client_for(world.owner)

    created = owner.post(url(world, "schedules/"), BODY, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == SCHEDULE_KEYS
    assert body["start_time"] == "2030-03-02T02:30:00+01:00"  # in its own zone
    assert body["next_run"] == "2030-03-04T01:30:00Z"  # the first Monday, 02:30 in Berlin
    assert (body["enabled"], body["expired"], body["links"], body["interval"]) == (True, False, 0, 1)

    read = owner.get(url(world, "schedules/nightly%20backup/"))
    assert read.status_code == 200 and read.json()["name"] == "Nightly backup"
    listed = owner.get(url(world, "schedules/")).json()["results"]
    assert [s["name"] for s in listed] == ["Daily", "Nightly backup"]

    changed = owner.patch(url(world, "schedules/Nightly%20backup/"), {"enabled": False}, format="json")
    assert changed.status_code == 200 and changed.json()["next_run"] is None
    assert changed.json()["start_time"] == body["start_time"]

    assert owner.delete(url(world, "schedules/Nightly%20backup/")).status_code == 204
    assert not Schedule.objects.filter(name="Nightly backup").exists()


def test_next_runs_in_the_zone_and_in_utc(world):
    owner = client_for(world.owner)
    owner.post(url(world, "schedules/"), BODY, format="json")

    answer = owner.get(url(world, "schedules/Nightly%20backup/next-runs/?count=3"))

    assert answer.status_code == 200
    assert answer.json() == {
        "time_zone": "Europe/Berlin",
        "next_runs": [
            {"local": "2030-03-04T02:30:00+01:00", "utc": "2030-03-04T01:30:00Z"},
            {"local": "2030-03-07T02:30:00+01:00", "utc": "2030-03-07T01:30:00Z"},
            {"local": "2030-03-11T02:30:00+01:00", "utc": "2030-03-11T01:30:00Z"},
        ],
    }
    assert len(owner.get(url(world, "schedules/Daily/next-runs/")).json()["next_runs"]) == 5
    for count in ("0", "101", "x", "-1", "1e2", "٣"):
        assert_error(owner.get(url(world, f"schedules/Daily/next-runs/?count={count}")), 400, field="count")


@pytest.mark.parametrize(("role", "status"), [("owner", 201), ("operator", 201), ("reader", 403), ("stranger", 404)])
def test_who_may_create(world, role, status):
    answer = client_for(world.by_role[role]).post(url(world, "schedules/"), BODY, format="json")
    assert answer.status_code == status
    if status != 201:
        assert_error(answer, status)


@pytest.mark.parametrize(("role", "status"), [("reader", 200), ("stranger", 404)])
def test_who_may_read(world, role, status):
    client = client_for(world.by_role[role])
    assert client.get(url(world, "schedules/")).status_code == status
    assert client.get(url(world, "schedules/Daily/")).status_code == status
    assert client.get(url(world, "schedules/Daily/next-runs/")).status_code == status
    assert client.get(url(world, "runbooks/backup/schedules/")).status_code == status


BAD = [
    ({"frequency": "Yearly"}, "frequency"),
    ({"start_time": "2030-03-02 02:30"}, "start_time"),
    ({"time_zone": "Europe/Atlantis"}, "time_zone"),
    ({"interval": -1}, "interval"),
    ({"interval": 1.5}, "interval"),
    ({"week_days": "Monday"}, "week_days"),
    ({"month_days": [1]}, "month_days"),
    ({"expiry_time": "2030-01-01T00:00:00Z"}, "expiry_time"),
    ({"enabled": "false"}, "enabled"),
    ({"name": "a\x00b"}, "name"),
    ({"next_run": "2030-01-01T00:00:00Z"}, "next_run"),  # read-only
    ({"colour": "blue"}, "colour"),
]


@pytest.mark.parametrize(("change", "field"), BAD, ids=[field for _, field in BAD])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(world, change, field):
    owner = client_for(world.owner)
    before = state()

    assert_error(owner.post(url(world, "schedules/"), {**BODY, **change}, format="json"), 400, field=field)
    assert_error(owner.patch(url(world, "schedules/Daily/"), change, format="json"), 400)

    assert state() == before


def test_a_taken_name_is_a_409_and_an_unknown_one_a_404(world):
    owner = client_for(world.owner)
    assert_error(owner.post(url(world, "schedules/"), {**BODY, "name": "DAILY"}, format="json"), 409, field="name")
    for method in ("get", "patch", "delete"):
        body = assert_error(getattr(owner, method)(url(world, "schedules/Weekly/"), {}, format="json"), 404)
        assert "Weekly" in body["detail"]


def test_a_runbook_is_linked_with_its_parameters_and_unlinked(world):
    operator = client_for(world.operator)
    body = {"schedule": "daily", "parameters": {"Target": "db", "Token": "t0p-secret"}, "run_on": "lab"}

    made = operator.post(url(world, "runbooks/backup/schedules/"), {**body, "overlap": "queue"}, format="json")

    assert made.status_code == 201, made.content
    link = made.json()
    assert set(link) == LINK_KEYS and is_uuid(link["id"])
    assert (link["schedule"], link["runbook"], link["run_on"], link["overlap"]) == ("Daily", "backup", "lab", "queue")
    assert link["parameters"] == {"Target": "db", "Token": "******"}
    listed = operator.get(url(world, "runbooks/backup/schedules/")).json()["results"]
    assert [entry["id"] for entry in listed] == [link["id"]]
    assert "t0p-secret" not in operator.get(url(world, "runbooks/backup/schedules/")).content.decode()
    assert operator.get(url(world, "schedules/Daily/")).json()["links"] == 1

    assert_error(client_for(world.reader).delete(url(world, f"runbooks/backup/schedules/{link['id']}/")), 403)
    assert operator.delete(url(world, f"runbooks/backup/schedules/{link['id']}/")).status_code == 204
    assert_error(operator.delete(url(world, f"runbooks/backup/schedules/{link['id']}/")), 404)
    assert not ScheduleLink.objects.exists()
    assert sorted(AuditEvent.objects.filter(action__startswith="schedule.").values_list("action", flat=True)) == [
        "schedule.create",
        "schedule.link",
        "schedule.unlink",
    ]


BAD_LINKS = [
    ({"schedule": "Weekly"}, "schedule"),
    ({"run_on": "nowhere"}, "run_on"),
    ({"parameters": {}}, "Target"),
    ({"parameters": {"Target": 5}}, "Target"),
    ({"parameters": []}, "parameters"),
    ({"overlap": "never"}, "overlap"),
    ({"id": "00000000-0000-0000-0000-000000000000"}, "id"),
]


@pytest.mark.parametrize(("change", "field"), BAD_LINKS, ids=[f for _, f in BAD_LINKS])
def test_a_bad_link_is_a_400_naming_the_field_and_writes_nothing(world, change, field):
    operator = client_for(world.operator)
    body = {"schedule": "Daily", "parameters": {"Target": "db"}, "run_on": "lab", **change}
    before = state()

    assert_error(operator.post(url(world, "runbooks/backup/schedules/"), body, format="json"), 400, field=field)

    assert state() == before


def test_links_of_an_unknown_runbook_or_of_another_runbook_are_404(world):
    make_runbook(world.account, "report")
    link = link_schedule(
        account=world.account, runbook_name="report", schedule_name="Daily", run_on="lab", actor=SYSTEM
    )
    owner = client_for(world.owner)

    assert_error(owner.get(url(world, "runbooks/nope/schedules/")), 404)
    assert_error(owner.post(url(world, "runbooks/nope/schedules/"), {}, format="json"), 404)
    assert_error(owner.delete(url(world, f"runbooks/backup/schedules/{link.pk}/")), 404)
    assert_error(client_for(world.stranger).delete(url(world, f"runbooks/report/schedules/{link.pk}/")), 404)
    assert ScheduleLink.objects.count() == 1
    duplicate = {"schedule": "Daily", "run_on": "lab"}
    assert_error(owner.post(url(world, "runbooks/report/schedules/"), duplicate, format="json"), 409)


def test_an_expiry_is_set_and_cleared_with_null(world):
    owner = client_for(world.owner)
    body = {**BODY, "expiry_time": None}
    assert owner.post(url(world, "schedules/"), body, format="json").json()["expiry_time"] is None

    expiring = owner.patch(url(world, "schedules/Daily/"), {"expiry_time": "2030-02-01T00:00:00Z"}, format="json")
    assert expiring.json()["expiry_time"] == "2030-02-01T00:00:00+00:00"
    cleared = owner.patch(url(world, "schedules/Daily/"), {"expiry_time": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["expiry_time"] is None

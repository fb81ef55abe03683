"""Management API for jobs: every operation for every role, starting, reading and stopping one, its
streams, the jobs list and its filters, and refusals that write nothing."""

from datetime import timedelta
from urllib.parse import quote, urlencode

import pytest
from django.utils import timezone

from automation.models import Job, JobStatus
from automation.services import jobs as job_services
from automation.services.groups import create_group
from automation.services.runbooks import create_runbook, publish_runbook
from tests.automation.api.helpers import assert_error, is_uuid
from tests.automation.api.runbooks_support import (
    JOB_KEYS,
    RB,
    READ,
    ROLES,
    STATUSES,
    SYSTEM,
    Op,
    World,
    assert_anonymous_refused,
    assert_answer_for_role,
    client_for,
    make_world,
    operate,
    start,
)
from tests.support.state import state

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(people) -> World:
    return make_world(people)


# ---- who may do what ----------------------------------------------------------------------------


JOB_OPS = [
    Op("list jobs", "get", lambda w: w.url("jobs/"), READ),
    Op(
        "start a job",
        "post",
        lambda w: w.url("jobs/"),
        operate(201),
        {"runbook": RB, "run_on": "lab", "parameters": {"service": "web"}},
    ),
    Op("show a job", "get", lambda w: w.job_url(w.queued), READ),
    Op("stop a job", "post", lambda w: w.job_url(w.queued, "stop/"), operate(200)),
    Op("read a job's streams", "get", lambda w: w.job_url(w.finished, "streams/"), READ),
]


@pytest.mark.parametrize("op", JOB_OPS, ids=lambda op: op.name)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_role_allows(world, op, role):
    assert_answer_for_role(world, op, role)


@pytest.mark.parametrize("op", JOB_OPS, ids=lambda op: op.name)
def test_anonymous_requests_are_401(world, op):
    assert_anonymous_refused(world, op)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", lambda w: w.url("jobs/00000000-0000-0000-0000-000000000000/")),
        ("post", lambda w: w.url("jobs/00000000-0000-0000-0000-000000000000/stop/")),
        ("get", lambda w: w.url("jobs/00000000-0000-0000-0000-000000000000/streams/")),
    ],
)
def test_an_unknown_job_is_404(world, method, path):
    client = client_for(world.people.owner)
    before = state()

    assert_error(getattr(client, method)(path(world), format="json"), 404, "not_found")

    assert state() == before


def test_another_accounts_runbooks_and_jobs_are_not_found_under_its_own_url(world):
    """The stranger owns fabrikam: contoso's job is not found under fabrikam's URL either."""
    client = client_for(world.people.stranger)
    other = f"/api/v1/accounts/{world.people.other_account.pk}/"
    before = state()

    assert_error(client.get(f"{other}jobs/{world.queued.pk}/"), 404)
    assert_error(client.post(f"{other}jobs/{world.queued.pk}/stop/"), 404)
    assert_error(client.get(f"{other}jobs/{world.finished.pk}/streams/"), 404)
    assert_error(client.get(f"{other}runbooks/{quote(RB)}/"), 404)
    assert client.get(f"{other}jobs/").json()["results"] == []

    assert state() == before


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_starting_a_job_answers_201_with_the_job(world, role):
    user = world.people.by_role[role]
    body = {
        "runbook": RB,
        "run_on": "lab",
        "parameters": {"service": "web", "options": {"a": [1]}},
        "timeout_seconds": 600,
    }

    response = client_for(user).post(world.url("jobs/"), body, format="json")

    assert response.status_code == 201, response.content
    job = response.json()
    assert set(job) == JOB_KEYS
    assert is_uuid(job["id"])
    assert (job["runbook"], job["run_on"], job["status"], job["worker"]) == (RB, "lab", "Queued", None)
    assert job["parameters"] == {"service": "web", "retries": 2, "force": False, "options": {"a": [1]}}
    assert (job["started"], job["ended"], job["exit_code"]) == (None, None, None)
    assert job["status_reason"] == "Waiting for a worker of group lab to pick it up (0 of 4 slots busy)."
    assert job["started_by"] == {"kind": "api", "name": user.username}
    stored = Job.objects.get(pk=job["id"])
    assert (stored.timeout_seconds, stored.started_by) == (600, user.username)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"run_on": "lab", "parameters": {"service": "web"}}, "runbook"),
        ({"runbook": RB, "parameters": {"service": "web"}}, "run_on"),
        ({"runbook": "nope", "run_on": "lab", "parameters": {"service": "web"}}, "runbook"),
        ({"runbook": "draft only", "run_on": "lab", "parameters": {}}, "runbook"),
        ({"runbook": RB, "run_on": "nope", "parameters": {"service": "web"}}, "run_on"),
        ({"runbook": RB, "run_on": ["lab"], "parameters": {"service": "web"}}, "run_on"),
        ({"runbook": RB, "run_on": "lab", "parameters": {}}, "service"),
        ({"runbook": RB, "run_on": "lab"}, "service"),
        ({"runbook": RB, "run_on": "lab", "parameters": {"service": 5}}, "service"),
        ({"runbook": RB, "run_on": "lab", "parameters": {"service": "web", "retries": "2"}}, "retries"),
        ({"runbook": RB, "run_on": "lab", "parameters": {"service": "web", "force": "yes"}}, "force"),
        ({"runbook": RB, "run_on": "lab", "parameters": {"service": "web", "nope": 1}}, "nope"),
        ({"runbook": RB, "run_on": "lab", "parameters": ["web"]}, "parameters"),
        ({"runbook": RB, "run_on": "lab", "parameters": {"service": "web"}, "timeout_seconds": 0}, "timeout_seconds"),
        ({"runbook": RB, "run_on": "lab", "parameters": {"service": "w"}, "timeout_seconds": "60"}, "timeout_seconds"),
        (
            {"runbook": RB, "run_on": "lab", "parameters": {"service": "w"}, "timeout_seconds": 7 * 24 * 3600 + 1},
            "timeout_seconds",
        ),
    ],
)
def test_wrong_job_input_is_400_naming_the_field_and_nothing_is_written(world, body, field):
    client = client_for(world.people.operator)
    before = state()

    error = assert_error(client.post(world.url("jobs/"), body, format="json"), 400, "invalid", field=field)
    if "field" in error:
        assert field in error["detail"].lower() or field == "run_on"
    assert state() == before


def test_a_job_is_shown_by_its_id(world):
    job = client_for(world.people.reader).get(world.job_url(world.finished)).json()

    assert set(job) == JOB_KEYS
    assert job["id"] == str(world.finished.pk)
    assert (job["status"], job["worker"], job["exit_code"], job["run_on"]) == ("Completed", "web-01", 0, "lab")
    assert job["started"] is not None and job["ended"] is not None
    assert job["parameters"] == {"service": "web", "retries": 2, "force": False}


def test_a_job_names_the_job_that_started_it_and_the_jobs_it_started(world):
    (parent,) = job_services.claim_jobs(worker=world.worker)
    first, second = (
        job_services.start_child_job(parent=parent, runbook_name=RB, parameters={"service": s}, worker=world.worker)
        for s in ("a", "b")
    )
    client = client_for(world.people.reader)

    shown = client.get(world.job_url(parent)).json()
    child = client.get(world.job_url(first)).json()
    listed = {job["id"]: job for job in client.get(world.url("jobs/")).json()["results"]}

    assert (shown["parent_job"], shown["child_jobs"]) == (None, [str(first.pk), str(second.pk)])
    assert (child["parent_job"], child["child_jobs"]) == (str(parent.pk), [])
    assert listed[str(parent.pk)]["child_jobs"] == [str(first.pk), str(second.pk)]
    assert listed[str(second.pk)]["parent_job"] == str(parent.pk)
    assert listed[str(world.finished.pk)]["child_jobs"] == []
    assert shown["started_by"] == {"kind": "user", "name": world.finished.started_by}
    assert child["started_by"] == {"kind": "parent", "name": str(parent.pk)}


def test_jobs_are_filtered_by_how_they_were_started(world):
    (parent,) = job_services.claim_jobs(worker=world.worker)
    child = job_services.start_child_job(
        parent=parent, runbook_name=RB, parameters={"service": "a"}, worker=world.worker
    )
    client = client_for(world.people.operator)
    body = {"runbook": RB, "run_on": "lab", "parameters": {"service": "b"}}
    by_api = client.post(world.url("jobs/"), body, format="json").json()["id"]

    def listed(kind: str) -> set[str]:
        return {job["id"] for job in client.get(world.url(f"jobs/?started_by={kind}")).json()["results"]}

    assert listed("api") == {by_api}
    assert listed("parent") == {str(child.pk)}
    assert listed("user") == {str(world.finished.pk), str(world.queued.pk)}
    assert listed("schedule") == listed("webhook") == set()
    before = state()
    error = assert_error(client.get(world.url("jobs/?started_by=robot")), 400, field="started_by")
    assert "user, api, schedule, webhook, parent" in str(error)
    assert state() == before


def test_every_status_is_one_of_the_documented_names(world):
    assert set(JobStatus.values) == STATUSES
    client = client_for(world.people.reader)
    for status in STATUSES:
        Job.objects.filter(pk=world.queued.pk).update(status=status)
        assert client.get(world.job_url(world.queued)).json()["status"] == status
        assert [j["id"] for j in client.get(world.url(f"jobs/?status={status}")).json()["results"]] == [
            str(world.queued.pk)
        ] + ([str(world.finished.pk)] if status == "Completed" else [])


def test_stopping_a_queued_job_answers_with_it_stopped(world):
    response = client_for(world.people.operator).post(world.job_url(world.queued, "stop/"))

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["status_reason"]) == ("Stopped", "Stopped before it started.")


def test_stopping_a_running_job_answers_stopping(world):
    start(world.account, parameters={"service": "x"})
    job_services.request_stop(job=world.queued, actor=SYSTEM)
    (running,) = job_services.claim_jobs(worker=world.worker)
    job_services.append_records(worker=world.worker, job_id=running.pk, lease=running.lease_id, records=[])

    response = client_for(world.people.operator).post(world.job_url(running, "stop/"))

    assert response.json()["status"] == "Stopping"
    assert job_services.stop_requests(worker=world.worker) == [str(running.pk)]


def test_stopping_a_finished_job_is_409(world):
    client = client_for(world.people.owner)
    before = state()

    assert_error(client.post(world.job_url(world.finished, "stop/")), 409, "job_ended")

    assert state() == before


def streams(world, query: str = "") -> list[tuple]:
    response = client_for(world.people.reader).get(world.job_url(world.finished, f"streams/{query}"))
    assert response.status_code == 200, response.content
    return [(r["seq"], r["stream"], r["text"]) for r in response.json()["results"]]


def test_the_streams_list_every_record_in_order(world):
    response = client_for(world.people.reader).get(world.job_url(world.finished, "streams/"))

    results = response.json()["results"]
    assert [r["seq"] for r in results] == [0, 1, 2, 3, 4, 5, 6]
    assert set(results[0]) == {"seq", "stream", "text", "time"}


@pytest.mark.parametrize(
    ("query", "seqs"),
    [
        ("?after=2", [3, 4, 5, 6]),
        ("?after=-1", [0, 1, 2, 3, 4, 5, 6]),
        ("?after=6", []),
        ("?stream=output", [0, 3, 6]),
        ("?after=0&stream=output", [3, 6]),
        ("?stream=error", [1]),
        ("?stream=warning", [2]),
        ("?stream=verbose", [4]),
        ("?stream=progress", [5]),
        ("?stream=", [0, 1, 2, 3, 4, 5, 6]),
    ],
)
def test_the_streams_filter_by_sequence_and_stream(world, query, seqs):
    assert [seq for seq, _, _ in streams(world, query)] == seqs


@pytest.mark.parametrize("query", ["?after=x", "?after=1.5", "?after=", "?stream=stdout", "?stream=Output"])
def test_a_bad_streams_filter_is_400(world, query):
    assert_error(client_for(world.people.reader).get(world.job_url(world.finished, f"streams/{query}")), 400)


@pytest.fixture
def many(world):
    """Jobs of two runbooks on two groups, in several statuses, created a day apart (newest: "j5")."""
    other_rb = create_runbook(account=world.account, name="other", runbook_type="bash", content="x", actor=SYSTEM)
    publish_runbook(runbook=other_rb, actor=SYSTEM)
    create_group(account=world.account, name="dmz", actor=SYSTEM)
    Job.objects.all().delete()
    rows = [
        (RB, "lab", "Completed"),
        (RB, "dmz", "Failed"),
        ("other", "lab", "Running"),
        ("other", "dmz", "Queued"),
        (RB, "lab", "Queued"),
        ("other", "lab", "Completed"),
    ]
    base = timezone.now() - timedelta(days=10)
    ids = {}
    for i, (runbook, group, status) in enumerate(rows):
        job = start(world.account, runbook=runbook, group=group, parameters={"service": "s"} if runbook == RB else {})
        Job.objects.filter(pk=job.pk).update(status=status, created_at=base + timedelta(days=i))
        ids[f"j{i}"] = str(job.pk)
    return ids


def listed(world, many, **filters) -> list[str]:
    response = client_for(world.people.reader).get(world.url("jobs/?" + urlencode(filters)))
    assert response.status_code == 200, response.content
    names = {v: k for k, v in many.items()}
    return [names[j["id"]] for j in response.json()["results"]]


def at(days: int) -> str:
    return (timezone.now() - timedelta(days=10) + timedelta(days=days, hours=-1)).isoformat()


def test_the_jobs_list_is_newest_first(world, many):
    assert listed(world, many) == ["j5", "j4", "j3", "j2", "j1", "j0"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": "Queued"}, ["j4", "j3"]),
        ({"status": "Completed"}, ["j5", "j0"]),
        ({"status": "Stopping"}, []),
        ({"runbook": RB}, ["j4", "j1", "j0"]),
        ({"runbook": "nope"}, []),
        ({"run_on": "dmz"}, ["j3", "j1"]),
        ({"runbook": "other", "run_on": "lab"}, ["j5", "j2"]),
        ({"runbook": "other", "status": "Queued", "run_on": "dmz"}, ["j3"]),
        ({"created_after": "AFTER2"}, ["j5", "j4", "j3", "j2"]),
        ({"created_before": "BEFORE2"}, ["j1", "j0"]),
        ({"created_after": "AFTER1", "created_before": "BEFORE4", "run_on": "lab"}, ["j2"]),
    ],
)
def test_the_jobs_list_filters(world, many, filters, expected):
    filters = {
        k: at(int(v[-1])) if v.startswith(("AFTER", "BEFORE")) else v for k, v in filters.items()
    }  # AFTERn/BEFOREn: an hour before job n was created

    assert listed(world, many, **filters) == expected


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "Done"},
        {"status": "queued"},
        {"created_after": "yesterday"},
        {"created_before": "2026-13-01T00:00:00"},
        {"created_after": "2026-02-30T10:00:00Z"},
    ],
)
def test_a_bad_filter_is_400(world, filters):
    response = client_for(world.people.reader).get(world.url("jobs/?" + urlencode(filters)))

    error = assert_error(response, 400, "invalid")
    assert next(iter(filters)) in error["detail"]


def test_the_jobs_list_is_paginated(world):
    for _ in range(60):
        start(world.account, parameters={"service": "s"})
    client = client_for(world.people.reader)

    first = client.get(world.url("jobs/")).json()
    second = client.get(world.url("jobs/?page=2")).json()

    assert first["count"] == 62 and len(first["results"]) == 50 and len(second["results"]) == 12
    assert all(set(j) == JOB_KEYS and j["status"] in STATUSES for j in first["results"] + second["results"])

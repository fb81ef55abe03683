"""Management API for runbooks, versions and jobs: every operation for every role, the shapes of
the answers, names that need URL-encoding, the jobs list's filters, and refusals that write nothing."""

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from automation.models import AuditEvent, Job, JobStatus, JobStream, Runbook, RunbookVersion
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.groups import create_group
from automation.services.runbooks import create_runbook, publish_runbook, update_draft
from automation.services.tokens import create_token
from automation.services.workers import register_worker
from tests.automation.api.helpers import assert_error, is_uuid

pytestmark = pytest.mark.django_db

SYSTEM = Actor.for_system()
RB = "Restart web.service v2"  # spaces and dots: the URL must encode them
CONTENT = '#!/bin/bash\nsystemctl restart "$1"\n'
DECLARED = [
    {"name": "service", "type": "string", "required": True},
    {"name": "retries", "type": "int", "default": 2},
    {"name": "force", "type": "bool", "default": False},
    {"name": "options", "type": "json"},
]
ROLES = ["owner", "operator", "reader", "stranger"]
JOB_KEYS = {
    "version",
    "timeout_seconds",
    "attempt",
    "retries_left",
    "pickup_seconds",
    "run_seconds",
    "test",
    "id",
    "runbook",
    "run_on",
    "status",
    "worker",
    "status_reason",
    "created",
    "started",
    "ended",
    "exit_code",
    "parameters",
}
STATUSES = {"New", "Queued", "Activating", "Running", "Stopping", "Completed", "Failed", "Stopped"}
RUNBOOK_KEYS = {
    "retries",
    "timeout_seconds",
    "id",
    "name",
    "runbook_type",
    "description",
    "parameters",
    "content",
    "published_version",
    "state",
    "created",
    "updated",
}
VERSION_KEYS = {"id", "version", "runbook_type", "sha256", "parameters", "published", "published_by"}


def client_for(user) -> APIClient:
    client = APIClient(REMOTE_ADDR="198.51.100.20")
    token = create_token(user=user, name="tests", expires_days=None, actor=SYSTEM).plain
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@dataclass
class World:
    people: Any
    worker: Any
    queued: Job
    finished: Job

    @property
    def account(self):
        return self.people.account

    def url(self, rest: str = "") -> str:
        return f"/api/v1/accounts/{self.account.pk}/{rest}"

    def runbook_url(self, name: str = RB, rest: str = "") -> str:
        return self.url(f"runbooks/{quote(name)}/{rest}")

    def job_url(self, job, rest: str = "") -> str:
        return self.url(f"jobs/{job.pk}/{rest}")


@pytest.fixture
def world(people) -> World:
    """Runbook RB published (v1) and "draft only" unpublished; group "lab" with a worker; a queued job,
    and a finished one with records in every stream."""
    runbook = create_runbook(
        account=people.account,
        name=RB,
        runbook_type="bash",
        description="Restarts a service.",
        content=CONTENT,
        parameters=DECLARED,
        actor=SYSTEM,
    )
    publish_runbook(runbook=runbook, actor=SYSTEM)
    create_runbook(account=people.account, name="draft only", runbook_type="python3", actor=SYSTEM)
    worker = register_worker(
        account=people.account, group_name="lab", machine_id="machine-0001", name="web-01", facts={"capacity": 4}
    ).worker
    finished = start(people.account, parameters={"service": "web"})
    (held,) = job_services.claim_jobs(worker=worker)
    records = [
        job_services.Record(seq=i, stream=stream, text=f"{stream} {i}", time=timezone.now())
        for i, stream in enumerate(["output", "error", "warning", "output", "verbose", "progress", "output"])
    ]
    job_services.finish_job(
        worker=worker, job_id=held.pk, lease=held.lease_id, status="Completed", exit_code=0, records=records
    )
    queued = start(people.account, parameters={"service": "db"})
    return World(people=people, worker=worker, queued=queued, finished=Job.objects.get(pk=finished.pk))


def start(account, *, runbook=RB, group="lab", parameters=None) -> Job:
    return job_services.start_job(
        account=account, runbook_name=runbook, group_name=group, parameters=parameters, actor=SYSTEM
    )


def state() -> tuple:
    """What a refused request must leave as it was."""
    return (
        sorted(Runbook.objects.values_list("name", "runbook_type", "description", "draft", "parameters")),
        sorted(RunbookVersion.objects.values_list("runbook__name", "number", "sha256")),
        sorted(Job.objects.values_list("id", "status", "parameters")),
        JobStream.objects.count(),
        AuditEvent.objects.count(),
    )


# ---- who may do what ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: Any  # World -> str
    expect: dict
    body: dict | None = None


READ = {"owner": 200, "operator": 200, "reader": 200, "stranger": 404}


def operate(status: int) -> dict:
    return {"owner": status, "operator": status, "reader": 403, "stranger": 404}


OPS = [
    Op("list runbooks", "get", lambda w: w.url("runbooks/"), READ),
    Op(
        "create a runbook",
        "post",
        lambda w: w.url("runbooks/"),
        operate(201),
        {"name": "new one", "runbook_type": "bash"},
    ),
    Op("show a runbook", "get", lambda w: w.runbook_url(), READ),
    Op("edit the draft", "patch", lambda w: w.runbook_url(), operate(200), {"content": "echo changed"}),
    Op("delete a runbook", "delete", lambda w: w.runbook_url("draft only"), operate(204)),
    Op("publish", "post", lambda w: w.runbook_url(rest="publish/"), operate(200)),
    Op("list versions", "get", lambda w: w.runbook_url(rest="versions/"), READ),
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


def send(client, op: Op, world: World):
    return getattr(client, op.method)(op.path(world), data=op.body, format="json")


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_role_allows(world, op, role):
    client = client_for(world.people.by_role[role])
    before = state()

    response = send(client, op, world)

    expected = op.expect[role]
    assert response.status_code == expected, (response.status_code, response.content)
    if expected == 404:
        assert_error(response, 404, "not_found")
        assert b"contoso" not in response.content
    if expected == 403:
        body = assert_error(response, 403, "forbidden")
        assert "Operator or Owner" in body["detail"]
    if expected in (403, 404) or op.method == "get":
        assert state() == before
    else:
        assert state() != before


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_anonymous_requests_are_401(world, op):
    before = state()

    response = send(APIClient(), op, world)

    assert response.status_code in (401, 403)
    assert state() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", lambda w: w.runbook_url("nope")),
        ("patch", lambda w: w.runbook_url("nope")),
        ("delete", lambda w: w.runbook_url("nope")),
        ("post", lambda w: w.runbook_url("nope", "publish/")),
        ("get", lambda w: w.runbook_url("nope", "versions/")),
        ("get", lambda w: w.url("jobs/00000000-0000-0000-0000-000000000000/")),
        ("post", lambda w: w.url("jobs/00000000-0000-0000-0000-000000000000/stop/")),
        ("get", lambda w: w.url("jobs/00000000-0000-0000-0000-000000000000/streams/")),
    ],
)
def test_an_unknown_runbook_or_job_is_404(world, method, path):
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


# ---- runbooks --------------------------------------------------------------------------------------


def test_the_runbooks_list_shows_each_runbook_with_its_latest_version(world):
    body = client_for(world.people.reader).get(world.url("runbooks/")).json()

    assert body["count"] == 2
    first = body["results"][0]
    assert set(first) == RUNBOOK_KEYS
    assert [(r["name"], r["runbook_type"], r["published_version"], r["state"]) for r in body["results"]] == [
        (RB, "bash", 1, "Published"),
        ("draft only", "python3", None, "New"),
    ]
    assert first["content"] == CONTENT
    assert first["description"] == "Restarts a service."
    assert first["parameters"][0] == {"name": "service", "type": "string", "required": True}


@pytest.mark.sqlite
def test_the_state_says_edit_while_the_draft_differs_from_the_latest_version(world):
    client = client_for(world.people.operator)

    edited = client.patch(world.runbook_url(), {"content": "echo changed\n"}, format="json").json()
    assert (edited["state"], edited["published_version"]) == ("Edit", 1)
    assert client.get(world.runbook_url()).json()["state"] == "Edit"
    listed = client.get(world.url("runbooks/")).json()["results"]
    assert [(r["name"], r["state"]) for r in listed] == [(RB, "Edit"), ("draft only", "New")]

    client.post(world.runbook_url(rest="publish/"))
    assert client.get(world.runbook_url()).json()["state"] == "Published"
    # The parameters are frozen with the version too.
    body = client.patch(world.runbook_url(), {"parameters": []}, format="json").json()
    assert (body["state"], body["published_version"]) == ("Edit", 2)


def test_the_runbooks_list_costs_the_same_queries_for_3_or_30_runbooks(world):
    client = client_for(world.people.reader)

    def add(start: int, stop: int) -> None:
        for i in range(start, stop):
            runbook = create_runbook(
                account=world.account, name=f"rb-{i:02}", runbook_type="bash", content="echo", actor=SYSTEM
            )
            # New, Published (twice) and In edit, one after the other.
            if i % 3:
                publish_runbook(runbook=runbook, actor=SYSTEM)
                publish_runbook(runbook=runbook, actor=SYSTEM)
            if i % 3 == 2:
                update_draft(runbook=runbook, content=f"echo {i}", actor=SYSTEM)

    def measure(expected: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            body = client.get(world.url("runbooks/")).json()
        assert body["count"] == len(body["results"]) == expected
        assert {r["state"] for r in body["results"]} == {"New", "Published", "Edit"}
        return len(queries)

    client.get(world.url("runbooks/"))  # warm up: the token's last use, content types
    add(0, 3)
    few = measure(5)
    add(3, 30)
    assert measure(32) == few


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_creating_a_runbook_answers_201_with_it(world, role):
    body = {
        "name": "Nightly backup.v1",
        "runbook_type": "python3",
        "description": "Backs up.",
        "content": "print('backup')\n",
        "parameters": [{"name": "target", "type": "string", "required": True}],
    }

    response = client_for(world.people.by_role[role]).post(world.url("runbooks/"), body, format="json")

    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == RUNBOOK_KEYS
    assert is_uuid(created["id"])
    assert (created["name"], created["runbook_type"], created["content"], created["published_version"]) == (
        "Nightly backup.v1",
        "python3",
        "print('backup')\n",
        None,
    )
    assert created["parameters"] == [{"name": "target", "type": "string", "required": True}]
    assert Runbook.objects.get(pk=created["id"]).created_by == world.people.by_role[role].username


def test_only_a_name_and_a_type_are_needed(world):
    response = client_for(world.people.operator).post(
        world.url("runbooks/"), {"name": "tiny", "runbook_type": "powershell"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert (response.json()["content"], response.json()["description"], response.json()["parameters"]) == ("", "", [])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"runbook_type": "bash"}, "name"),
        ({"name": "x"}, "runbook_type"),
        ({"name": "bad/name", "runbook_type": "bash"}, "name"),
        ({"name": "", "runbook_type": "bash"}, "name"),
        ({"name": 5, "runbook_type": "bash"}, "name"),
        ({"name": "x", "runbook_type": "python"}, "runbook_type"),
        ({"name": "x", "runbook_type": "bash", "content": 5}, "content"),
        ({"name": "x", "runbook_type": "bash", "content": "a\u0000b"}, "content"),
        ({"name": "x", "runbook_type": "bash", "description": ["d"]}, "description"),
        ({"name": "x", "runbook_type": "bash", "parameters": {"name": "p"}}, "parameters"),
        (
            {"name": "x", "runbook_type": "bash", "parameters": [{"name": "n", "type": "int", "default": "1"}]},
            "parameters",
        ),
    ],
)
def test_a_bad_runbook_is_400_naming_the_field_and_nothing_is_written(world, body, field):
    client = client_for(world.people.owner)
    before = state()

    response = client.post(world.url("runbooks/"), body, format="json")

    error = assert_error(response, 400, "invalid")
    assert error.get("field") == field or field in error.get("fields", {}), error
    assert state() == before


def test_a_duplicate_name_is_409(world):
    client = client_for(world.people.owner)
    before = state()

    error = assert_error(client.post(world.url("runbooks/"), {"name": RB, "runbook_type": "bash"}, format="json"), 409)

    assert error["field"] == "name"
    assert state() == before


@pytest.mark.parametrize("name", ["Restart db.service v3", "a.b", "x" * 128, "-dash_", "with  two  spaces", "v1.2.3"])
def test_names_with_spaces_and_dots_work_in_every_runbook_url(world, name):
    client = client_for(world.people.operator)

    assert client.post(world.url("runbooks/"), {"name": name, "runbook_type": "bash"}, format="json").status_code == 201
    assert client.get(world.runbook_url(name)).json()["name"] == name
    assert client.patch(world.runbook_url(name), {"content": "echo hi"}, format="json").status_code == 200
    assert client.post(world.runbook_url(name, "publish/")).json()["version"] == 1
    assert client.get(world.runbook_url(name, "versions/")).json()["count"] == 1
    job = client.post(world.url("jobs/"), {"runbook": name, "run_on": "lab"}, format="json")
    assert (job.status_code, job.json()["runbook"]) == (201, name)
    assert_error(client.delete(world.runbook_url(name)), 409, "runbook_busy")
    client.post(world.url(f"jobs/{job.json()['id']}/stop/"))
    assert client.delete(world.runbook_url(name)).status_code == 204
    assert not Runbook.objects.filter(name=name).exists()
    assert client.get(world.url(f"jobs/{job.json()['id']}/")).json()["runbook"] == name


def test_patch_edits_only_the_draft(world):
    client = client_for(world.people.operator)

    response = client.patch(
        world.runbook_url(),
        {"content": "echo v2\n", "description": "new", "parameters": [{"name": "only", "type": "bool"}]},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["content"], body["description"], body["published_version"]) == ("echo v2\n", "new", 1)
    assert body["parameters"] == [{"name": "only", "type": "bool", "required": False}]
    version = RunbookVersion.objects.get(runbook__name=RB)
    assert (version.content, version.parameters[0]["name"]) == (CONTENT, "service")


def test_a_patch_with_one_field_keeps_the_others(world):
    client = client_for(world.people.operator)

    body = client.patch(world.runbook_url(), {"description": "only this"}, format="json").json()

    assert (body["content"], body["description"], len(body["parameters"])) == (CONTENT, "only this", 4)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": None}, "content"),
        ({"content": "x" * (1024 * 1024 + 1)}, "content"),
        ({"parameters": [{"name": "a"}, {"name": "a"}]}, "parameters"),
        ({"content": "fine", "parameters": "nope"}, "parameters"),
        ({"description": 5}, "description"),
    ],
)
def test_a_bad_patch_is_400_and_changes_nothing(world, settings, body, field):
    settings.AGENT_MAX_BODY_BYTES = 4 * 1024 * 1024  # the parser's limit is not what is tested here
    client = client_for(world.people.operator)
    before = state()

    error = assert_error(client.patch(world.runbook_url(), body, format="json"), 400)

    assert error.get("field") == field or field in error.get("fields", {}), error
    assert state() == before


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_publish_answers_200_with_the_new_version_and_its_sha256(world, role):
    client = client_for(world.people.by_role[role])
    client.patch(world.runbook_url(), {"content": "echo two\n"}, format="json")

    response = client.post(world.runbook_url(rest="publish/"))

    assert response.status_code == 200, response.content
    version = response.json()
    assert set(version) == VERSION_KEYS
    assert (version["version"], version["runbook_type"]) == (2, "bash")
    assert version["sha256"] == hashlib.sha256(b"echo two\n").hexdigest()
    assert version["published_by"] == world.people.by_role[role].username
    assert client.get(world.runbook_url()).json()["published_version"] == 2


def test_the_versions_list_is_newest_first(world):
    client = client_for(world.people.owner)
    client.post(world.runbook_url(rest="publish/"))
    client.patch(world.runbook_url(), {"content": "echo three\n"}, format="json")
    client.post(world.runbook_url(rest="publish/"))

    body = client_for(world.people.reader).get(world.runbook_url(rest="versions/")).json()

    assert [v["version"] for v in body["results"]] == [3, 2, 1]
    assert [v["sha256"] for v in body["results"]] == [
        hashlib.sha256(b"echo three\n").hexdigest(),
        hashlib.sha256(CONTENT.encode()).hexdigest(),
        hashlib.sha256(CONTENT.encode()).hexdigest(),
    ]
    assert all(set(v) == VERSION_KEYS for v in body["results"])


def test_an_empty_draft_cannot_be_published(world):
    client = client_for(world.people.owner)
    before = state()

    error = assert_error(client.post(world.runbook_url("draft only", "publish/")), 400, "invalid")

    assert error["field"] == "content"
    assert state() == before


def test_a_runbook_with_a_queued_job_cannot_be_deleted(world):
    client = client_for(world.people.owner)
    before = state()

    error = assert_error(client.delete(world.runbook_url()), 409, "runbook_busy")

    assert "stop them first" in error["detail"]
    assert state() == before


# ---- jobs -------------------------------------------------------------------------------------------


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

    error = assert_error(client.post(world.url("jobs/"), body, format="json"), 400, "invalid")

    assert error.get("field") == field or field in error.get("fields", {}), error
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


# ---- streams ------------------------------------------------------------------------------------------


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


# ---- the jobs list and its filters --------------------------------------------------------------------


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


# ---- the OpenAPI document ------------------------------------------------------------------------------


def test_the_runbook_and_job_operations_are_in_the_openapi_document(world):
    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    operations = {(method, path) for path, item in schema["paths"].items() for method in item}
    base = "/api/v1/accounts/{account_id}/"

    assert {
        ("get", base + "runbooks/"),
        ("post", base + "runbooks/"),
        ("get", base + "runbooks/{runbook_name}/"),
        ("patch", base + "runbooks/{runbook_name}/"),
        ("delete", base + "runbooks/{runbook_name}/"),
        ("post", base + "runbooks/{runbook_name}/publish/"),
        ("get", base + "runbooks/{runbook_name}/versions/"),
        ("get", base + "jobs/"),
        ("post", base + "jobs/"),
        ("get", base + "jobs/{job_id}/"),
        ("post", base + "jobs/{job_id}/stop/"),
        ("get", base + "jobs/{job_id}/streams/"),
        ("post", "/agentsvc/accounts/{account_id}/v1/jobs/next"),
        ("post", "/agentsvc/accounts/{account_id}/v1/jobs/{job_id}/records"),
        ("post", "/agentsvc/accounts/{account_id}/v1/jobs/{job_id}/finish"),
    } <= operations
    job_list = schema["paths"][base + "jobs/"]["get"]
    assert {p["name"] for p in job_list["parameters"]} >= {"status", "runbook", "run_on", "created_after", "page"}


def test_the_openapi_document_states_the_runbook_state_and_its_values(world):
    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    components = schema["components"]["schemas"]

    state_schema = components["Runbook"]["properties"]["state"]
    if "$ref" in state_schema:
        state_schema = components[state_schema["$ref"].rsplit("/", 1)[1]]
    elif "allOf" in state_schema:
        state_schema = components[state_schema["allOf"][0]["$ref"].rsplit("/", 1)[1]]
    assert set(state_schema["enum"]) == {"New", "Published", "Edit"}
    assert "state" in components["Runbook"]["required"]
    assert components["Runbook"]["properties"]["state"].get("readOnly") is True


def test_a_runbook_larger_than_an_agent_body_is_saved_through_the_api(world, settings):
    client = client_for(world.people.operator)
    draft = "echo line\n" * (2 * settings.AGENT_MAX_BODY_BYTES // 10)

    response = client.patch(world.runbook_url(), {"content": draft}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["content"] == draft


def test_a_body_over_the_management_apis_limit_is_413(world, settings):
    settings.API_MAX_BODY_BYTES = 2048
    client = client_for(world.people.operator)
    before = state()

    response = client.patch(world.runbook_url(), {"content": "x" * 4096}, format="json")

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert state() == before

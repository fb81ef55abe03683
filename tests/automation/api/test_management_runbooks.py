"""Management API for runbooks and their versions: every operation for every role, the shapes of the
answers, names that need URL-encoding, and refusals that write nothing."""

import hashlib

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from automation.models import Runbook, RunbookVersion
from automation.services.runbooks import create_runbook, publish_runbook, update_draft
from tests.automation.api.helpers import assert_error, is_uuid
from tests.automation.api.runbooks_support import (
    CONTENT,
    RB,
    READ,
    ROLES,
    RUNBOOK_KEYS,
    SYSTEM,
    VERSION_KEYS,
    Op,
    World,
    assert_anonymous_refused,
    assert_answer_for_role,
    client_for,
    make_world,
    operate,
)
from tests.support.state import state

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(people) -> World:
    return make_world(people)


# ---- who may do what ----------------------------------------------------------------------------


RUNBOOK_OPS = [
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
]


@pytest.mark.parametrize("op", RUNBOOK_OPS, ids=lambda op: op.name)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_role_allows(world, op, role):
    assert_answer_for_role(world, op, role)


@pytest.mark.parametrize("op", RUNBOOK_OPS, ids=lambda op: op.name)
def test_anonymous_requests_are_401(world, op):
    assert_anonymous_refused(world, op)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", lambda w: w.runbook_url("nope")),
        ("patch", lambda w: w.runbook_url("nope")),
        ("delete", lambda w: w.runbook_url("nope")),
        ("post", lambda w: w.runbook_url("nope", "publish/")),
        ("get", lambda w: w.runbook_url("nope", "versions/")),
    ],
)
def test_an_unknown_runbook_is_404(world, method, path):
    client = client_for(world.people.owner)
    before = state()

    assert_error(getattr(client, method)(path(world), format="json"), 404, "not_found")

    assert state() == before


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

    assert_error(response, 400, "invalid", field=field)
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

    assert_error(client.patch(world.runbook_url(), body, format="json"), 400, field=field)
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

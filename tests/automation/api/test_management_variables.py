"""Management API for variables: every operation for every role, the shape of the answers, any JSON value
up to 1,048,576 characters, encrypted values in no answer, encrypting in place (one way), and refusals that
name the field and write nothing."""

import json
import logging

import pytest
from rest_framework.test import APIClient

from automation.models import AuditEvent, Variable
from automation.services.variables import MAX_VALUE_CHARS, read_variable_value
from tests.automation.api.assets_support import (
    ENCRYPTED,
    ENCRYPTED_VALUE,
    PLAIN,
    VARIABLE_KEYS,
    AssetWorld,
    assert_no_secret_anywhere,
    make_asset_world,
)
from tests.automation.api.helpers import assert_error
from tests.automation.api.runbooks_support import (
    READ,
    ROLES,
    Op,
    assert_anonymous_refused,
    assert_answer_for_role,
    client_for,
    operate,
)
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def world(people) -> AssetWorld:
    return make_asset_world(people)


def stored(name: str) -> Variable:
    return Variable.objects.select_related("account").get(name=name)


OPS = [
    Op("list variables", "get", lambda w: w.url("variables"), READ),
    Op("create a variable", "post", lambda w: w.url("variables"), operate(201), {"name": "new one", "value": 1}),
    Op("show a variable", "get", lambda w: w.url("variables", PLAIN), READ),
    Op("change a variable", "patch", lambda w: w.url("variables", PLAIN), operate(200), {"value": "changed"}),
    Op("encrypt a variable", "patch", lambda w: w.url("variables", PLAIN), operate(200), {"encrypted": True}),
    Op("delete a variable", "delete", lambda w: w.url("variables", PLAIN), operate(204)),
]


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_role_allows(world, op, role):
    assert_answer_for_role(world, op, role)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_anonymous_requests_are_401(world, op):
    assert_anonymous_refused(world, op)


def test_the_list_shows_plain_values_to_readers_and_no_encrypted_value(world):
    body = client_for(world.people.reader).get(world.url("variables")).json()

    assert body["count"] == 2
    assert all(set(row) == VARIABLE_KEYS for row in body["results"])
    assert [(r["name"], r["value"], r["encrypted"]) for r in body["results"]] == [
        (PLAIN, {"region": "westeurope", "replicas": 3}, False),
        (ENCRYPTED, None, True),
    ]


@pytest.mark.parametrize(
    "value",
    ["text", "", 0, -(2**63), 2**63 - 1, 1.5, True, False, None, "2026-12-06T09:00:00Z", {"a": [1, {"b": None}]}, []],
    ids=repr,
)
def test_any_json_value_is_kept_as_given(world, value):
    client = client_for(world.people.operator)

    created = client.post(world.url("variables"), {"name": "v", "value": value}, format="json")

    assert created.status_code == 201, created.content
    assert set(created.json()) == VARIABLE_KEYS
    assert (created.json()["value"], created.json()["encrypted"]) == (value, False)
    assert client.get(world.url("variables", "v")).json()["value"] == value


def test_a_variable_created_without_a_value_holds_null(world):
    body = client_for(world.people.operator).post(world.url("variables"), {"name": "empty"}, format="json").json()

    assert (body["value"], body["encrypted"], body["description"]) == (None, False, "")


def test_an_encrypted_variable_answers_null_and_keeps_its_value_for_jobs(world, caplog):
    caplog.set_level(logging.DEBUG)
    client = client_for(world.people.owner)
    secret = "new-ENCRYPTED-0a9d"

    created = client.post(
        world.url("variables"), {"name": "db password", "value": secret, "encrypted": True}, format="json"
    )
    shown = client.get(world.url("variables", "db password"))
    listed = client.get(world.url("variables"))

    assert created.status_code == 201, created.content
    assert (created.json()["value"], created.json()["encrypted"]) == (None, True)
    assert (shown.json()["value"], shown.json()["encrypted"]) == (None, True)
    assert read_variable_value(stored("db password")) == secret
    assert stored("db password").value is None
    assert_no_secret_anywhere([secret, ENCRYPTED_VALUE], [created, shown, listed], caplog)


def test_a_new_value_of_an_encrypted_variable_stays_encrypted(world, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "replaced-ENCRYPTED-61c2"

    response = client_for(world.people.operator).patch(
        world.url("variables", ENCRYPTED), {"value": secret, "description": "rotated"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["value"], response.json()["encrypted"], response.json()["description"]) == (
        None,
        True,
        "rotated",
    )
    assert read_variable_value(stored(ENCRYPTED)) == secret
    assert_no_secret_anywhere([secret, ENCRYPTED_VALUE], [response], caplog)


def test_encrypted_true_encrypts_a_plain_variable_in_place(world):
    client = client_for(world.people.operator)

    response = client.patch(world.url("variables", PLAIN), {"encrypted": True}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["value"], response.json()["encrypted"]) == (None, True)
    assert read_variable_value(stored(PLAIN)) == {"region": "westeurope", "replicas": 3}
    assert stored(PLAIN).value is None
    assert AuditEvent.objects.filter(action="variable.encrypt", target_name=PLAIN).count() == 1


def test_a_value_given_with_encrypted_true_is_sealed_at_once(world):
    response = client_for(world.people.operator).patch(
        world.url("variables", PLAIN), {"encrypted": True, "value": "fresh-SECRET-44"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert read_variable_value(stored(PLAIN)) == "fresh-SECRET-44"
    assert "fresh-SECRET-44" not in repr(Variable.objects.filter(name=PLAIN).values())


def test_encrypted_true_on_an_encrypted_variable_changes_nothing(world):
    operator = client_for(world.people.operator)
    before = state()

    response = operator.patch(world.url("variables", ENCRYPTED), {"encrypted": True}, format="json")

    assert (response.status_code, response.json()["encrypted"]) == (200, True)
    assert state() == before


def test_an_encrypted_variable_cannot_be_decrypted(world):
    owner = client_for(world.people.owner)
    before = state()

    error = assert_error(
        owner.patch(world.url("variables", ENCRYPTED), {"encrypted": False, "value": "plain now"}, format="json"),
        400,
        "invalid",
    )

    assert error["field"] == "encrypted"
    assert state() == before


def test_a_value_refused_with_encrypted_true_leaves_the_variable_plain(world):
    owner = client_for(world.people.owner)
    before = state()

    error = assert_error(
        owner.patch(world.url("variables", PLAIN), {"encrypted": True, "value": "a\x00b"}, format="json"),
        400,
    )

    assert error["field"] == "value"
    assert state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": 1}, "name"),
        ({"name": None, "value": 1}, "name"),
        ({"name": 5, "value": 1}, "name"),
        ({"name": "bad/name", "value": 1}, "name"),
        ({"name": " lead", "value": 1}, "name"),
        ({"name": "x", "value": "a\x00b"}, "value"),
        ({"name": "x", "value": {"k": "a\x1bb"}}, "value"),
        ({"name": "x", "value": "x" * MAX_VALUE_CHARS}, "value"),
        ({"name": "x", "value": 1, "encrypted": "true"}, "encrypted"),
        ({"name": "x", "value": 1, "encrypted": 1}, "encrypted"),
        ({"name": "x", "value": 1, "encrypted": None}, "encrypted"),
        ({"name": "x", "value": 1, "description": 5}, "description"),
        ({"name": "x", "value": 1, "description": "d" * 513}, "description"),
        ({"name": "x", "value": 1, "description": "a\x07b"}, "description"),
        # A misspelt `encrypted` must not leave a secret in the clear.
        ({"name": "x", "value": "s3cret", "encrypt": True}, "encrypt"),
        ({"name": "x", "value": 1, "created_at": "2026-01-01T00:00:00Z"}, "created_at"),
    ],
)
def test_a_bad_variable_is_400_naming_the_field_and_nothing_is_written(world, body, field):
    owner = client_for(world.people.owner)
    before = state()

    assert_error(owner.post(world.url("variables"), body, format="json"), 400, field=field)
    assert state() == before


def test_nesting_deeper_than_64_levels_is_refused(world):
    value = 1
    for _ in range(64):
        value = [value]
    owner = client_for(world.people.owner)
    before = state()

    error = assert_error(
        owner.post(world.url("variables"), {"name": "deep", "value": value}, format="json"),
        400,
    )

    assert error["field"] == "value" and "64 levels" in error["detail"]
    assert state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": "a\x00b"}, "value"),
        ({"encrypted": "yes"}, "encrypted"),
        ({"description": None}, "description"),
        ({"name": "renamed"}, "name"),
        ({"valeu": 2}, "valeu"),
    ],
)
def test_a_bad_patch_is_400_naming_the_field_and_changes_nothing(world, body, field):
    owner = client_for(world.people.owner)
    before = state()

    assert_error(owner.patch(world.url("variables", PLAIN), body, format="json"), 400, field=field)
    assert state() == before


def test_a_name_taken_in_another_case_is_409(world):
    owner = client_for(world.people.owner)
    before = state()

    error = assert_error(
        owner.post(world.url("variables"), {"name": PLAIN.upper(), "value": 1}, format="json"),
        409,
    )

    assert error["field"] == "name"
    assert state() == before


def test_a_variable_is_found_whatever_the_case_of_its_name_in_the_url(world):
    client = client_for(world.people.operator)

    assert client.get(world.url("variables", PLAIN.lower())).json()["name"] == PLAIN
    assert client.delete(world.url("variables", PLAIN.upper())).status_code == 204
    assert not Variable.objects.filter(name=PLAIN).exists()


def test_deleting_is_in_the_activity_log(world):
    client_for(world.people.operator).delete(world.url("variables", ENCRYPTED))

    event = AuditEvent.objects.get(action="variable.delete")
    assert (event.target_name, event.actor_name) == (ENCRYPTED, world.people.operator.username)


def test_a_value_of_1048576_characters_of_json_is_taken_however_the_client_escapes_it(world):
    # Each 😀 is one character of the stored JSON text and twelve bytes of a body that \u-escapes it
    # (\ud83d\ude00), as Python's json.dumps does by default.
    value = "\U0001f600" * (MAX_VALUE_CHARS - 2)
    body = json.dumps({"name": "big", "value": value, "encrypted": True}).encode()
    assert len(body) > 12 * 1024 * 1024
    client = client_for(world.people.operator)

    response = client.generic("POST", world.url("variables"), body, content_type="application/json")

    assert response.status_code == 201, response.content[:300]
    assert read_variable_value(stored("big")) == value


def test_one_character_more_is_400_naming_the_value(world):
    operator = client_for(world.people.operator)
    before = state()
    body = {"name": "big", "value": "x" * (MAX_VALUE_CHARS - 1)}

    error = assert_error(operator.post(world.url("variables"), body, format="json"), 400)

    assert error["field"] == "value"
    assert state() == before


def test_a_body_over_the_variables_limit_is_413(world, settings):
    settings.VARIABLE_MAX_BODY_BYTES = 2048
    operator = client_for(world.people.operator)
    before = state()

    response = operator.patch(world.url("variables", PLAIN), {"value": "x" * 4096}, format="json")

    assert_error(response, 413, "payload_too_large")
    assert str(2048) in response.json()["detail"]
    assert state() == before


def test_no_encrypted_value_in_any_answer_error_audit_entry_or_log_line(world, caplog):
    caplog.set_level(logging.DEBUG)
    owner, reader = client_for(world.people.owner), client_for(world.people.reader)
    secret = "every-PLACE-9f1e"
    responses = [
        owner.post(world.url("variables"), {"name": "s", "value": secret, "encrypted": True}, format="json"),
        owner.post(world.url("variables"), {"name": "s", "value": secret, "encrypted": True}, format="json"),
        owner.post(world.url("variables"), {"name": "t", "value": secret + "\x00", "encrypted": True}, format="json"),
        owner.patch(world.url("variables", "s"), {"value": secret, "encrypted": False}, format="json"),
        owner.patch(world.url("variables", "s"), {"value": secret + "2"}, format="json"),
        reader.patch(world.url("variables", "s"), {"value": secret}, format="json"),
        reader.get(world.url("variables")),
        owner.get(world.url("variables", "s")),
        APIClient().get(world.url("variables", "s")),
        owner.delete(world.url("variables", "s")),
    ]

    assert [r.status_code for r in responses] == [201, 409, 400, 400, 200, 403, 200, 200, 401, 204]
    assert_no_secret_anywhere([secret, ENCRYPTED_VALUE], responses, caplog)

"""Management API for credentials: every operation for every role, the user name shown and the password in
no answer, changes that keep what they do not name, and refusals that name the field and write nothing."""

import logging

import pytest
from rest_framework.test import APIClient

from automation.models import Credential
from automation.services.credentials import read_credential_secret
from tests.automation.api.assets_support import (
    CREDENTIAL,
    CREDENTIAL_KEYS,
    PASSWORD,
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


def secret_of(name: str) -> dict:
    return read_credential_secret(Credential.objects.select_related("account").get(name=name))


OPS = [
    Op("list credentials", "get", lambda w: w.url("credentials"), READ),
    Op(
        "create a credential",
        "post",
        lambda w: w.url("credentials"),
        operate(201),
        {"name": "new one", "username": "u", "password": "p"},
    ),
    Op("show a credential", "get", lambda w: w.url("credentials", CREDENTIAL), READ),
    Op("change a password", "patch", lambda w: w.url("credentials", CREDENTIAL), operate(200), {"password": "other"}),
    Op("delete a credential", "delete", lambda w: w.url("credentials", CREDENTIAL), operate(204)),
]


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_role_allows(world, op, role):
    assert_answer_for_role(world, op, role)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_anonymous_requests_are_401(world, op):
    assert_anonymous_refused(world, op)


def test_readers_see_the_user_name_and_never_the_password(world):
    reader = client_for(world.people.reader)

    listed = reader.get(world.url("credentials")).json()["results"]
    shown = reader.get(world.url("credentials", CREDENTIAL)).json()

    assert [(c["name"], c["username"]) for c in listed] == [(CREDENTIAL, "svc-admin")]
    assert set(listed[0]) == set(shown) == CREDENTIAL_KEYS


def test_creating_a_credential_answers_201_without_its_password(world):
    response = client_for(world.people.operator).post(
        world.url("credentials"),
        {"name": "sql login", "username": "CONTOSO\\sql", "password": " spaces and\nlines ", "description": "SQL."},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert set(response.json()) == CREDENTIAL_KEYS
    assert (response.json()["username"], response.json()["description"]) == ("CONTOSO\\sql", "SQL.")
    assert secret_of("sql login") == {"username": "CONTOSO\\sql", "password": " spaces and\nlines "}


def test_a_patch_changes_what_it_names_and_keeps_the_rest(world):
    client = client_for(world.people.operator)

    password_only = client.patch(world.url("credentials", CREDENTIAL), {"password": "rotated-1"}, format="json")
    assert password_only.status_code == 200, password_only.content
    assert secret_of(CREDENTIAL) == {"username": "svc-admin", "password": "rotated-1"}

    user_only = client.patch(world.url("credentials", CREDENTIAL), {"username": "svc-two"}, format="json")
    assert user_only.json()["username"] == "svc-two"
    assert secret_of(CREDENTIAL) == {"username": "svc-two", "password": "rotated-1"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "u", "password": "p"}, "name"),
        ({"name": "x", "password": "p"}, "username"),
        ({"name": "x", "username": "u"}, "password"),
        ({"name": "x", "username": "  ", "password": "p"}, "username"),
        ({"name": "x", "username": "a\nb", "password": "p"}, "username"),
        ({"name": "x", "username": "u" * 257, "password": "p"}, "username"),
        ({"name": "x", "username": 5, "password": "p"}, "username"),
        ({"name": "x", "username": "u", "password": ""}, "password"),
        ({"name": "x", "username": "u", "password": "a\x00b"}, "password"),
        ({"name": "x", "username": "u", "password": "p" * 8193}, "password"),
        ({"name": "x", "username": "u", "password": 12345}, "password"),
        ({"name": "x", "username": "u", "password": None}, "password"),
        ({"name": "x", "username": "u", "password": "p", "description": ["d"]}, "description"),
        ({"name": "x", "username": "u", "pasword": "p"}, "pasword"),
    ],
)
def test_a_bad_credential_is_400_naming_the_field_and_nothing_is_written(world, body, field):
    owner = client_for(world.people.owner)
    before = state()

    assert_error(owner.post(world.url("credentials"), body, format="json"), 400, field=field)
    assert state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": ""}, "password"),
        ({"username": "x", "password": "a\x00"}, "password"),
        ({"username": ""}, "username"),
        ({"name": "renamed"}, "name"),
    ],
)
def test_a_bad_patch_is_400_and_changes_nothing(world, body, field):
    owner = client_for(world.people.owner)
    before = state()

    assert_error(owner.patch(world.url("credentials", CREDENTIAL), body, format="json"), 400, field=field)
    assert state() == before


def test_a_name_taken_in_another_case_is_409(world):
    owner = client_for(world.people.owner)
    before = state()
    body = {"name": CREDENTIAL.lower(), "username": "u", "password": "p"}

    error = assert_error(owner.post(world.url("credentials"), body, format="json"), 409)

    assert error["field"] == "name"
    assert state() == before


def test_no_password_in_any_answer_error_audit_entry_or_log_line(world, caplog):
    caplog.set_level(logging.DEBUG)
    owner, reader = client_for(world.people.owner), client_for(world.people.reader)
    secret = "every-PASSWORD-31aa"
    create = {"name": "c", "username": "u", "password": secret}
    responses = [
        owner.post(world.url("credentials"), create, format="json"),
        owner.post(world.url("credentials"), create, format="json"),
        owner.post(world.url("credentials"), create | {"name": "d", "password": secret + "\x00"}, format="json"),
        owner.post(world.url("credentials"), create | {"name": "e", "username": "\n"}, format="json"),
        owner.patch(world.url("credentials", "c"), {"password": secret + "2", "description": 5}, format="json"),
        owner.patch(world.url("credentials", "c"), {"password": secret + "3"}, format="json"),
        reader.patch(world.url("credentials", "c"), {"password": secret}, format="json"),
        reader.get(world.url("credentials")),
        owner.get(world.url("credentials", "c")),
        APIClient().patch(world.url("credentials", "c"), {"password": secret}, format="json"),
        owner.delete(world.url("credentials", "c")),
    ]

    assert [r.status_code for r in responses] == [201, 409, 400, 400, 400, 200, 403, 200, 200, 401, 204]
    assert_no_secret_anywhere([secret, PASSWORD], responses, caplog)

"""Management API for connection types and connections: every operation for every role, Azure's built-in
types, types that cannot be changed (405) nor deleted while built in or in use (409), connections whose
encrypted fields read null, PATCH merging values, and refusals that name the field and write nothing."""

import logging

import pytest
from rest_framework.test import APIClient

from automation.models import Connection
from automation.services.connections import read_connection_values
from tests.automation.api.assets_support import (
    CONNECTION,
    CONNECTION_KEYS,
    CONNECTION_TYPE,
    CONNECTION_TYPE_KEYS,
    TICKET_FIELDS,
    TOKEN,
    UNUSED_TYPE,
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

NEW_VALUES = {"url": "https://new.contoso.test", "token": "t", "port": 8443}


@pytest.fixture
def world(people) -> AssetWorld:
    return make_asset_world(people)


def values_of(name: str) -> dict:
    return read_connection_values(Connection.objects.select_related("account", "connection_type").get(name=name))


OPS = [
    Op("list connection types", "get", lambda w: w.url("connection-types"), READ),
    Op(
        "create a connection type",
        "post",
        lambda w: w.url("connection-types"),
        operate(201),
        {"name": "new type", "fields": [{"name": "host"}]},
    ),
    Op("show a connection type", "get", lambda w: w.url("connection-types", CONNECTION_TYPE), READ),
    Op("delete a connection type", "delete", lambda w: w.url("connection-types", UNUSED_TYPE), operate(204)),
    Op("list connections", "get", lambda w: w.url("connections"), READ),
    Op(
        "create a connection",
        "post",
        lambda w: w.url("connections"),
        operate(201),
        {"name": "new one", "connection_type": CONNECTION_TYPE, "values": NEW_VALUES},
    ),
    Op("show a connection", "get", lambda w: w.url("connections", CONNECTION), READ),
    Op(
        "change a connection",
        "patch",
        lambda w: w.url("connections", CONNECTION),
        operate(200),
        {"values": {"port": 1}},
    ),
    Op("delete a connection", "delete", lambda w: w.url("connections", CONNECTION), operate(204)),
]


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_role_allows(world, op, role):
    assert_answer_for_role(world, op, role)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_anonymous_requests_are_401(world, op):
    assert_anonymous_refused(world, op)


# ---- connection types -----------------------------------------------------------------------------------------


def test_the_types_list_azures_built_in_ones_with_the_accounts_own(world):
    body = client_for(world.people.reader).get(world.url("connection-types")).json()

    assert all(set(t) == CONNECTION_TYPE_KEYS for t in body["results"])
    assert [(t["name"], t["is_builtin"]) for t in body["results"]] == [
        ("Azure", True),
        ("AzureServicePrincipal", True),
        (CONNECTION_TYPE, False),
        (UNUSED_TYPE, False),
    ]
    assert body["results"][2]["fields"] == TICKET_FIELDS


def test_creating_a_type_fills_in_each_fields_defaults(world):
    response = client_for(world.people.operator).post(
        world.url("connection-types"),
        {"name": "Smtp", "fields": [{"name": "host"}, {"name": "Port", "type": "int"}], "description": "Mail."},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["fields"] == [
        {"name": "host", "type": "string", "encrypted": False},
        {"name": "Port", "type": "int", "encrypted": False},
    ]
    assert (response.json()["is_builtin"], response.json()["description"]) == (False, "Mail.")


@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_type_cannot_be_changed(world, method):
    owner = client_for(world.people.owner)
    before = state()

    response = getattr(owner, method)(
        world.url("connection-types", CONNECTION_TYPE), {"fields": [{"name": "x"}]}, format="json"
    )

    assert_error(response, 405)
    assert state() == before


@pytest.mark.parametrize(
    ("name", "code", "words"),
    [("Azure", "builtin", "built-in"), (CONNECTION_TYPE, "connection_type_in_use", repr(CONNECTION))],
)
def test_a_built_in_type_or_one_in_use_is_not_deleted(world, name, code, words):
    owner = client_for(world.people.owner)
    before = state()

    error = assert_error(owner.delete(world.url("connection-types", name)), 409, code)

    assert words in error["detail"]
    assert state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fields": [{"name": "a"}]}, "name"),
        ({"name": "t"}, "fields"),
        ({"name": "t", "fields": []}, "fields"),
        ({"name": "t", "fields": {"name": "a"}}, "fields"),
        ({"name": "t", "fields": [{"name": "a"}, {"name": "A"}]}, "fields"),
        ({"name": "t", "fields": [{"name": "1a"}]}, "fields"),
        ({"name": "t", "fields": [{"name": "a", "type": "float"}]}, "fields"),
        ({"name": "t", "fields": [{"name": "a", "encrypted": "yes"}]}, "fields"),
        ({"name": "t", "fields": [{"name": "a", "secret": True}]}, "fields"),
        ({"name": "t", "fields": [{"name": f"f{i}"} for i in range(51)]}, "fields"),
        ({"name": "t", "fields": [{"name": "a"}], "is_builtin": True}, "is_builtin"),
        ({"name": "azure", "fields": [{"name": "a"}]}, "name"),
    ],
)
def test_a_bad_type_is_refused_naming_the_field_and_nothing_is_written(world, body, field):
    owner = client_for(world.people.owner)
    before = state()

    response = owner.post(world.url("connection-types"), body, format="json")

    assert_error(response, 409 if body.get("name") == "azure" else 400, field=field)
    assert state() == before


# ---- connections ----------------------------------------------------------------------------------------------


def test_an_encrypted_field_reads_null_in_every_answer(world):
    reader = client_for(world.people.reader)

    listed = reader.get(world.url("connections")).json()["results"]
    shown = reader.get(world.url("connections", CONNECTION)).json()

    assert listed == [shown]
    assert set(shown) == CONNECTION_KEYS
    assert (shown["connection_type"], shown["values"]) == (
        CONNECTION_TYPE,
        {"url": "https://tickets.contoso.test", "token": None, "port": 443},
    )


def test_creating_a_connection_of_a_built_in_type(world):
    values = {"AutomationCertificateName": "Web cert", "SubscriptionID": "0000-1111"}

    response = client_for(world.people.operator).post(
        world.url("connections"), {"name": "sub", "connection_type": "azure", "values": values}, format="json"
    )

    assert response.status_code == 201, response.content
    assert (response.json()["connection_type"], response.json()["values"]) == ("Azure", values)


def test_a_patch_merges_values_and_keeps_the_encrypted_ones_it_does_not_name(world):
    response = client_for(world.people.operator).patch(
        world.url("connections", CONNECTION), {"values": {"port": 9443}, "description": "Moved."}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["values"] == {"url": "https://tickets.contoso.test", "token": None, "port": 9443}
    assert values_of(CONNECTION) == {"url": "https://tickets.contoso.test", "token": TOKEN, "port": 9443}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"connection_type": CONNECTION_TYPE, "values": NEW_VALUES}, "name"),
        ({"name": "c", "values": NEW_VALUES}, "connection_type"),
        ({"name": "c", "connection_type": "No such type", "values": NEW_VALUES}, "connection_type"),
        ({"name": "c", "connection_type": 5, "values": NEW_VALUES}, "connection_type"),
        # What no name can hold never reaches a query (PostgreSQL refuses a NUL in text).
        ({"name": "c", "connection_type": "Ticket\x00API", "values": NEW_VALUES}, "connection_type"),
        ({"name": "c", "connection_type": "a" * 5000, "values": NEW_VALUES}, "connection_type"),
        ({"name": "c", "connection_type": CONNECTION_TYPE}, "values"),
        ({"name": "c", "connection_type": CONNECTION_TYPE, "values": [1]}, "values"),
        ({"name": "c", "connection_type": CONNECTION_TYPE, "values": {"url": "u", "port": 1}}, "values"),
        ({"name": "c", "connection_type": CONNECTION_TYPE, "values": NEW_VALUES | {"extra": 1}}, "values"),
        ({"name": "c", "connection_type": CONNECTION_TYPE, "values": NEW_VALUES | {"port": "443"}}, "values"),
        ({"name": "c", "connection_type": CONNECTION_TYPE, "values": NEW_VALUES | {"port": 2**63}}, "values"),
        ({"name": "c", "connection_type": CONNECTION_TYPE, "values": NEW_VALUES | {"token": "a\x00"}}, "values"),
        ({"name": "c", "connection_type": CONNECTION_TYPE, "values": NEW_VALUES, "description": 1}, "description"),
    ],
)
def test_a_bad_connection_is_400_naming_the_field_and_nothing_is_written(world, body, field):
    owner = client_for(world.people.owner)
    before = state()

    assert_error(owner.post(world.url("connections"), body, format="json"), 400, field=field)
    assert state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"values": {"port": "x"}}, "values"),
        ({"values": {"nope": 1}}, "values"),
        ({"values": None}, "values"),
        ({"connection_type": "Azure"}, "connection_type"),
    ],
)
def test_a_bad_patch_is_400_and_changes_nothing(world, body, field):
    owner = client_for(world.people.owner)
    before = state()

    assert_error(owner.patch(world.url("connections", CONNECTION), body, format="json"), 400, field=field)
    assert state() == before


def test_no_encrypted_field_in_any_answer_error_audit_entry_or_log_line(world, caplog):
    caplog.set_level(logging.DEBUG)
    owner, reader = client_for(world.people.owner), client_for(world.people.reader)
    secret = "every-TOKEN-58c0"
    create = {"name": "c", "connection_type": CONNECTION_TYPE, "values": NEW_VALUES | {"token": secret}}
    responses = [
        owner.post(world.url("connections"), create, format="json"),
        owner.post(world.url("connections"), create, format="json"),
        owner.post(world.url("connections"), create | {"name": "d", "values": {"token": secret}}, format="json"),
        owner.patch(world.url("connections", "c"), {"values": {"token": secret + "\x00"}}, format="json"),
        owner.patch(world.url("connections", "c"), {"values": {"token": secret + "2"}}, format="json"),
        reader.patch(world.url("connections", "c"), {"values": {"token": secret}}, format="json"),
        reader.get(world.url("connections")),
        owner.get(world.url("connections", "c")),
        APIClient().get(world.url("connections", "c")),
        owner.delete(world.url("connections", "c")),
    ]

    assert [r.status_code for r in responses] == [201, 409, 400, 400, 200, 403, 200, 200, 401, 204]
    assert_no_secret_anywhere([secret, TOKEN], responses, caplog)

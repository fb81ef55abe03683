"""The management API: every operation for every role, with an API token and with a session (where CSRF
is enforced), without credentials, and the shapes every list and id share."""

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from automation.models import AuditEvent, HybridWorker, HybridWorkerGroup
from automation.services.actor import Actor
from automation.services.groups import create_group
from tests.automation.api.helpers import assert_error, is_uuid
from tests.automation.api.management_support import (
    GROUP,
    ROLES,
    World,
    account_url,
    api_client,
    group_url,
    make_world,
)
from tests.support.state import state

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(people) -> World:
    return make_world(people)


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: Any  # World -> str
    expect: dict
    body: dict | None = None

    @property
    def writes(self) -> bool:
        return self.method != "get"


READ = {"owner": 200, "operator": 200, "reader": 200, "stranger": 404}


OPERATE = {"owner": None, "operator": None, "reader": 403, "stranger": 404}


OPS = [
    Op("list accounts", "get", lambda w: "/api/v1/accounts/", dict.fromkeys(ROLES, 200)),
    Op("show the account", "get", lambda w: account_url(w), READ),
    Op("list groups", "get", lambda w: account_url(w, "groups/"), READ),
    Op(
        "create a group",
        "post",
        lambda w: account_url(w, "groups/"),
        OPERATE | {"owner": 201, "operator": 201},
        {"name": "new group"},
    ),
    Op("show a group", "get", lambda w: group_url(GROUP, w), READ),
    Op("delete a group", "delete", lambda w: group_url("empty group", w), OPERATE | {"owner": 202, "operator": 202}),
    Op("list a group's workers", "get", lambda w: group_url(GROUP, w, "workers/"), READ),
    Op("show a worker", "get", lambda w: account_url(w, f"workers/{w.worker.pk}/"), READ),
    Op(
        "remove a worker",
        "delete",
        lambda w: account_url(w, f"workers/{w.worker.pk}/"),
        OPERATE | {"owner": 204, "operator": 204},
    ),
    Op(
        "regenerate the primary key",
        "post",
        lambda w: account_url(w, "keys/primary/regenerate/"),
        {"owner": 200, "operator": 403, "reader": 403, "stranger": 404},
    ),
    Op(
        "regenerate the secondary key",
        "post",
        lambda w: account_url(w, "keys/secondary/regenerate/"),
        {"owner": 200, "operator": 403, "reader": 403, "stranger": 404},
    ),
    Op("list notifications", "get", lambda w: "/api/v1/notifications/", dict.fromkeys(ROLES, 200)),
    Op("show a notification", "get", lambda w: f"/api/v1/notifications/{w.notification.pk}/", READ),
]


def send(client, op: Op, world: World):
    return getattr(client, op.method)(op.path(world), op.body, format="json" if op.body is not None else None)


@pytest.mark.parametrize("auth", ["token", "session"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_each_role_may_do_what_its_role_allows(world, op, role, auth):
    client = api_client(world.people.by_role[role], auth)
    before = state()
    response = send(client, op, world)
    expected = op.expect[role]
    if expected in (403, 404):
        body = assert_error(response, expected, "forbidden" if expected == 403 else "not_found")
        if expected == 403:
            assert world.account.name in body["detail"]
        assert state() == before
        return
    assert response.status_code == expected, (response.status_code, response.content)
    if op.writes:
        assert state() != before
        assert AuditEvent.objects.filter(actor=world.people.by_role[role]).exists()
    check_effect(op, world, response, role)


def check_effect(op: Op, world: World, response, role: str) -> None:
    body = response.json() if response.content else None
    if op.name == "list accounts":
        names = [a["name"] for a in body["results"]]
        if role == "stranger":
            assert names == ["fabrikam-automation"]
        else:
            assert names == ["contoso-automation"] and body["results"][0]["role"] == role
    elif op.name == "show the account":
        assert body["id"] == str(world.account.pk) and body["role"] == role
    elif op.name == "list groups":
        assert [g["name"] for g in body["results"]] == ["empty group", GROUP]
    elif op.name == "create a group":
        assert body["name"] == "new group" and body["workers"] == 0
        assert HybridWorkerGroup.objects.filter(account=world.account, name="new group").exists()
    elif op.name == "show a group":
        assert body["name"] == GROUP and body["workers"] == 1 and body["online"] == 1
    elif op.name == "delete a group":
        assert is_uuid(body["notification"])
        assert HybridWorkerGroup.objects.get(name="empty group").deleting_since is not None
    elif op.name == "list a group's workers":
        assert [w["name"] for w in body["results"]] == ["web-01"]
    elif op.name == "show a worker":
        assert body["id"] == str(world.worker.pk)
    elif op.name == "remove a worker":
        assert not HybridWorker.objects.filter(pk=world.worker.pk).exists()
    elif op.name.startswith("regenerate"):
        assert body["slot"] in op.path(world) and len(body["key"]) >= 43
    elif op.name == "list notifications":
        ids = [n["id"] for n in body["results"]]
        assert (str(world.notification.pk) in ids) == (role != "stranger")
    elif op.name == "show a notification":
        assert body["id"] == str(world.notification.pk) and body["state"] == ""


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_without_credentials_every_operation_is_401(world, op):
    before = state()
    response = send(APIClient(), op, world)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert state() == before


@pytest.mark.parametrize("op", [op for op in OPS if op.writes], ids=[op.name for op in OPS if op.writes])
def test_a_session_write_without_the_csrf_token_is_403(world, op):
    client = api_client(world.people.owner, "session", csrf=False)
    before = state()
    body = assert_error(send(client, op, world), 403, "permission_denied")
    assert "CSRF" in body["detail"]
    assert state() == before


@pytest.mark.parametrize("op", [op for op in OPS if op.writes], ids=[op.name for op in OPS if op.writes])
def test_a_session_write_with_a_wrong_csrf_token_is_403(world, op):
    client = api_client(world.people.owner, "session", csrf=False)
    client.cookies[settings.CSRF_COOKIE_NAME] = secrets.token_hex(16)
    client.credentials(HTTP_X_CSRFTOKEN=secrets.token_hex(16))
    before = state()
    assert_error(send(client, op, world), 403, "permission_denied")
    assert state() == before


def test_a_token_needs_no_csrf_token(world):
    client = api_client(world.people.operator, "token")
    assert client.post(account_url(world, "groups/"), {"name": "ci"}, format="json").status_code == 201


def test_lists_are_paginated(world):
    system = Actor.for_system()
    for i in range(55):
        create_group(account=world.account, name=f"group {i:02}", actor=system)
    client = api_client(world.people.reader, "token")
    first = client.get(account_url(world, "groups/")).json()
    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 57 and first["previous"] is None and len(first["results"]) == 50
    second = client.get(first["next"]).json()
    assert second["next"] is None and second["previous"] is not None and len(second["results"]) == 7
    names = [g["name"] for g in first["results"] + second["results"]]
    assert len(set(names)) == 57


@pytest.mark.parametrize(
    "path", ["/api/v1/accounts/", "accounts/{a}/groups/", "accounts/{a}/groups/{g}/workers/", "/api/v1/notifications/"]
)
def test_every_list_has_the_same_page_shape(world, path):
    path = path if path.startswith("/") else "/api/v1/" + path.format(a=world.account.pk, g=quote(GROUP))
    body = api_client(world.people.reader, "token").get(path).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == len(body["results"]) >= 1


def test_ids_are_uuids(world):
    client = api_client(world.people.owner, "token")
    assert is_uuid(client.get("/api/v1/accounts/").json()["results"][0]["id"])
    assert all(is_uuid(g["id"]) for g in client.get(account_url(world, "groups/")).json()["results"])
    assert all(is_uuid(w["id"]) for w in client.get(group_url(GROUP, world, "workers/")).json()["results"])
    notifications = client.get("/api/v1/notifications/").json()["results"]
    assert all(is_uuid(n["id"]) and is_uuid(n["account"]) for n in notifications)

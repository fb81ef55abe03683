"""The management API: every operation for every role, with an API token and with a session
(where CSRF is enforced), the shapes of its answers, group deletion, and API tokens."""

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from io import StringIO
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from automation.models import AccountKey, ApiToken, AuditEvent, HybridWorker, HybridWorkerGroup, Notification
from automation.services.actor import Actor
from automation.services.groups import create_group, delete_group
from automation.services.notifications import create_notification
from automation.services.tokens import create_token, revoke_token
from automation.services.workers import register_worker
from tests.automation.api.helpers import assert_error, call, is_uuid, register_body

pytestmark = pytest.mark.django_db

GROUP = "lab linux.v2_x-1"  # every character a name may hold
WORKER_FIELDS = {"id", "name", "group", "status", "last_seen", "registered", "ip", "os", "version", "facts"}
ROLES = ["owner", "operator", "reader", "stranger"]
FACTS = {"os": "Debian GNU/Linux 12", "ip_addresses": ["10.0.0.5"], "agent_version": "1.0.0", "cpu_count": 2}


@dataclass
class World:
    people: Any
    worker: HybridWorker
    other_worker: HybridWorker
    notification: Notification
    extra: dict = field(default_factory=dict)

    @property
    def account(self):
        return self.people.account


@pytest.fixture
def world(people):
    system = Actor.for_system()
    worker = register_worker(
        account=people.account, group_name=GROUP, machine_id="machine-0001", name="web-01", facts=FACTS
    ).worker
    other_worker = register_worker(
        account=people.other_account, group_name="b-lab", machine_id="machine-b-0001", name="b-01", facts={}
    ).worker
    create_group(account=people.account, name="empty group", actor=system)
    notification = create_notification(account=people.account, title="Something happened")
    return World(people=people, worker=worker, other_worker=other_worker, notification=notification)


def token_for(user) -> str:
    return create_token(user=user, name="tests", expires_days=None, actor=Actor.for_system()).plain


def api_client(user, auth: str, *, csrf: bool = True) -> APIClient:
    """A client for `user`: "token" (Bearer), "session" (signed in; CSRF token sent when csrf) or "anonymous"."""
    client = APIClient(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.20")
    if auth == "token":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    elif auth == "session":
        client.force_login(user)
        if csrf:
            secret = secrets.token_hex(16)
            client.cookies[settings.CSRF_COOKIE_NAME] = secret
            client.credentials(HTTP_X_CSRFTOKEN=secret)
    return client


def account_url(world: World, rest: str = "") -> str:
    return f"/api/v1/accounts/{world.account.pk}/{rest}"


def group_url(name: str, world: World, rest: str = "") -> str:
    return account_url(world, f"groups/{quote(name)}/{rest}")


def state() -> tuple:
    """What a refused request must leave as it was."""
    return (
        sorted(HybridWorkerGroup.objects.values_list("account__name", "name", "deleting_since")),
        sorted(HybridWorker.objects.values_list("name", flat=True)),
        sorted(AccountKey.objects.values_list("account__name", "slot", "ciphertext")),
        AuditEvent.objects.count(),
        Notification.objects.count(),
    )


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


# ---- every operation for every role, with a token and with a session ----------------------


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


# ---- shapes -------------------------------------------------------------------------------


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


def test_a_worker_has_exactly_the_documented_fields(world):
    body = api_client(world.people.reader, "token").get(account_url(world, f"workers/{world.worker.pk}/")).json()
    assert set(body) == WORKER_FIELDS
    assert body["name"] == "web-01" and body["group"] == GROUP and body["status"] == "Online"
    assert (body["os"], body["ip"], body["version"]) == ("Debian GNU/Linux 12", "10.0.0.5", "1.0.0")
    assert body["facts"]["cpu_count"] == 2
    assert "machine_id" not in str(body) and "credential" not in str(body)


def test_a_worker_that_stopped_heartbeating_is_offline(world):
    interval = settings.HEARTBEAT_INTERVAL_SECONDS * settings.OFFLINE_AFTER_MISSED_HEARTBEATS
    HybridWorker.objects.filter(pk=world.worker.pk).update(
        last_seen_at=timezone.now() - timedelta(seconds=interval + 1)
    )
    client = api_client(world.people.reader, "token")
    assert client.get(account_url(world, f"workers/{world.worker.pk}/")).json()["status"] == "Offline"
    assert client.get(group_url(GROUP, world, "workers/")).json()["results"][0]["status"] == "Offline"
    group = client.get(group_url(GROUP, world)).json()
    assert group["workers"] == 1 and group["online"] == 0

    HybridWorker.objects.filter(pk=world.worker.pk).update(last_seen_at=timezone.now() - timedelta(seconds=1))
    assert client.get(account_url(world, f"workers/{world.worker.pk}/")).json()["status"] == "Online"


def test_a_worker_that_never_heartbeat_is_offline(world):
    HybridWorker.objects.filter(pk=world.worker.pk).update(last_seen_at=None)
    body = api_client(world.people.reader, "token").get(account_url(world, f"workers/{world.worker.pk}/")).json()
    assert body["status"] == "Offline" and body["last_seen"] is None


def test_another_accounts_worker_is_404_on_this_accounts_url(world):
    client = api_client(world.people.owner, "token")
    assert_error(client.get(account_url(world, f"workers/{world.other_worker.pk}/")), 404, "not_found")
    before = state()
    assert_error(client.delete(account_url(world, f"workers/{world.other_worker.pk}/")), 404, "not_found")
    assert state() == before


def test_a_group_of_another_account_is_404(world):
    client = api_client(world.people.owner, "token")
    assert_error(client.get(group_url("b-lab", world)), 404, "not_found")
    assert_error(client.get(group_url("b-lab", world, "workers/")), 404, "not_found")
    before = state()
    assert_error(client.delete(group_url("b-lab", world)), 404, "not_found")
    assert state() == before


def test_a_stranger_gets_the_same_404_as_for_an_account_that_does_not_exist(world):
    import uuid

    client = api_client(world.people.stranger, "token")
    missing_id = uuid.uuid4()
    real = assert_error(client.get(account_url(world, "groups/")), 404)
    missing = assert_error(client.get(f"/api/v1/accounts/{missing_id}/groups/"), 404)
    # The same words, each naming the id it was asked about.
    assert real["detail"].replace(str(world.account.pk), "ID") == missing["detail"].replace(str(missing_id), "ID")
    assert {**real, "detail": ""} == {**missing, "detail": ""}


# ---- groups ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [GROUP, "a", "a.b", "x-y_z", "with  two spaces", "9" * 128, "..a", "-lead"])
def test_group_names_with_every_allowed_character_work_in_urls(world, name):
    client = api_client(world.people.operator, "token")
    if name != GROUP:
        created = client.post(account_url(world, "groups/"), {"name": name}, format="json")
        assert created.status_code == 201, created.content
    assert client.get(group_url(name, world)).json()["name"] == name
    assert client.get(group_url(name, world, "workers/")).status_code == 200
    if name != GROUP:
        assert client.delete(group_url(name, world)).status_code == 202


@pytest.mark.parametrize("name", ["", " x", "x ", "名前", "café", "a\nb", "...", "a" * 129, 5, None, ["x"]])
def test_creating_a_group_with_a_bad_name_is_400_naming_the_field(world, name):
    client = api_client(world.people.owner, "token")
    before = state()
    body = assert_error(client.post(account_url(world, "groups/"), {"name": name}, format="json"), 400, "invalid")
    assert "name" in body["detail"]
    assert state() == before


def test_creating_a_group_that_exists_is_409(world):
    client = api_client(world.people.owner, "token")
    before = state()
    body = assert_error(client.post(account_url(world, "groups/"), {"name": GROUP}, format="json"), 409)
    assert GROUP in body["detail"]
    assert state() == before


def test_creating_a_group_with_a_non_json_body_is_refused(world):
    client = api_client(world.people.owner, "token")
    before = state()
    assert_error(client.post(account_url(world, "groups/"), "name=x", content_type="text/plain"), 415)
    assert_error(client.post(account_url(world, "groups/"), "{", content_type="application/json"), 400, "parse_error")
    assert_error(client.post(account_url(world, "groups/"), "[]", content_type="application/json"), 400, "invalid")
    assert state() == before


def test_deleting_a_group_with_workers_is_409_naming_them(world):
    register_worker(account=world.account, group_name=GROUP, machine_id="machine-0002", name="web-02", facts={})
    client = api_client(world.people.owner, "token")
    before = state()
    body = assert_error(client.delete(group_url(GROUP, world)), 409, "group_not_empty")
    assert "web-01" in body["detail"] and "web-02" in body["detail"] and "hybridworker remove" in body["detail"]
    assert state() == before


def test_deleting_an_empty_group_runs_in_the_background_and_reports_in_a_notification(
    world, django_capture_on_commit_callbacks
):
    client = api_client(world.people.operator, "token")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.delete(group_url("empty group", world))
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"detail", "notification", "notification_url"}
    assert "empty group" in body["detail"]
    assert body["notification_url"] == f"/api/v1/notifications/{body['notification']}/"
    assert callbacks, "the deletion task is queued once the request commits"

    pending = client.get(body["notification_url"]).json()
    assert pending["state"] == "in_progress" and pending["account"] == str(world.account.pk)
    group = HybridWorkerGroup.objects.get(name="empty group")
    assert client.get(group_url("empty group", world)).json()["deleting"] is True
    assert_error(client.delete(group_url("empty group", world)), 409, "already_deleting")

    # What the Celery task does:
    assert delete_group(
        group_id=group.pk, notification_id=body["notification"], actor=Actor(user=world.people.operator)
    )
    done = client.get(body["notification_url"]).json()
    assert done["state"] == "succeeded" and "empty group" in done["title"]
    assert_error(client.get(group_url("empty group", world)), 404, "not_found")
    assert AuditEvent.objects.filter(action="group.delete", target_name="empty group").exists()
    # Every member sees the outcome; a stranger does not.
    assert api_client(world.people.reader, "token").get(body["notification_url"]).status_code == 200
    assert_error(api_client(world.people.stranger, "token").get(body["notification_url"]), 404)


def test_a_group_deletion_fails_when_a_worker_joined_meanwhile(world):
    client = api_client(world.people.owner, "token")
    body = client.delete(group_url("empty group", world)).json()
    group = HybridWorkerGroup.objects.get(name="empty group")
    # Registration refuses a group being deleted; a worker that got in anyway blocks the deletion.
    HybridWorker.objects.filter(pk=world.worker.pk).update(group=group)
    assert not delete_group(group_id=group.pk, notification_id=body["notification"], actor=Actor.for_system())
    assert client.get(body["notification_url"]).json()["state"] == "failed"
    assert client.get(group_url("empty group", world)).json()["deleting"] is False


def test_deleting_a_group_that_does_not_exist_is_404(world):
    assert_error(api_client(world.people.owner, "token").delete(group_url("nope", world)), 404, "not_found")


def test_removing_a_worker_stops_its_credential(world, keys, agent):
    response = call(
        agent,
        world.account.pk,
        "register",
        register_body(group="ci", machine_id="machine-0009"),
        token=keys["a"]["primary"],
    )
    registration = response.json()
    client = api_client(world.people.operator, "token")
    assert client.delete(account_url(world, f"workers/{registration['worker_id']}/")).status_code == 204
    assert_error(call(agent, world.account.pk, "heartbeat", {}, token=registration["credential"]), 401)
    assert_error(client.get(account_url(world, f"workers/{registration['worker_id']}/")), 404)


# ---- keys -----------------------------------------------------------------------------------


def test_regenerating_a_key_returns_it_once_and_leaves_the_other_working(world, keys, agent):
    client = api_client(world.people.owner, "token")
    response = client.post(account_url(world, "keys/primary/regenerate/"))
    assert response.status_code == 200
    new = response.json()
    assert set(new) == {"slot", "key"} and new["slot"] == "primary"
    assert new["key"] != keys["a"]["primary"]
    fresh = register_body(group="ci", machine_id="machine-0010")
    assert_error(call(agent, world.account.pk, "register", fresh, token=keys["a"]["primary"]), 401)
    assert call(agent, world.account.pk, "register", fresh, token=new["key"]).status_code == 201
    deregister = call(
        agent, world.account.pk, "deregister", {"machine_id": "machine-0001"}, token=keys["a"]["secondary"]
    )
    assert deregister.status_code == 200


def test_regenerating_an_unknown_slot_is_400(world):
    client = api_client(world.people.owner, "token")
    before = state()
    response = client.post(account_url(world, "keys/tertiary/regenerate/"))
    body = assert_error(response, 400, "invalid")
    assert body["field"] == "slot"
    assert state() == before


# ---- API tokens -----------------------------------------------------------------------------


def test_an_expired_token_is_401(world):
    new = create_token(user=world.people.owner, name="short", expires_days=1, actor=Actor.for_system())
    client = APIClient(headers={"Authorization": f"Bearer {new.plain}"})
    assert client.get("/api/v1/accounts/").status_code == 200
    ApiToken.objects.filter(pk=new.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/accounts/")
    body = assert_error(response, 401, "unauthorized")
    assert "expired" in body["detail"] and new.plain not in body["detail"]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_revoked_token_is_401(world):
    new = create_token(user=world.people.owner, name="gone", expires_days=None, actor=Actor.for_system())
    client = APIClient(headers={"Authorization": f"Bearer {new.plain}"})
    assert client.get("/api/v1/accounts/").status_code == 200
    revoke_token(user=world.people.owner, token_id=new.token.pk, actor=Actor(user=world.people.owner))
    assert_error(client.get("/api/v1/accounts/"), 401, "unauthorized")


@pytest.mark.parametrize("header", ["Bearer hrwpat_nope_nope", "Bearer ", "Bearer x", "Bearer hrw_abc_def"])
def test_a_wrong_token_is_401_not_anonymous(world, header):
    before = state()
    response = APIClient(headers={"Authorization": header}).post(account_url(world, "groups/"), {"name": "x"})
    assert_error(response, 401, "unauthorized")
    assert state() == before


def test_a_token_with_a_wrong_secret_is_401(world):
    plain = token_for(world.people.owner)
    prefix, lookup, _ = plain.split("_", 2)
    client = APIClient(headers={"Authorization": f"Bearer {prefix}_{lookup}_{'A' * 43}"})
    assert_error(client.get("/api/v1/accounts/"), 401)


def test_a_deactivated_users_token_is_401(world):
    plain = token_for(world.people.operator)
    world.people.operator.is_active = False
    world.people.operator.save()
    assert_error(APIClient(headers={"Authorization": f"Bearer {plain}"}).get("/api/v1/accounts/"), 401)


def test_a_token_acts_with_its_owners_current_role(world):
    from automation.services.accounts import change_role

    plain = token_for(world.people.reader)
    client = APIClient(headers={"Authorization": f"Bearer {plain}"})
    assert_error(client.post(account_url(world, "groups/"), {"name": "x"}, format="json"), 403)
    membership = world.account.memberships.get(user=world.people.reader)
    change_role(account=world.account, membership_id=membership.pk, role="operator", actor=Actor.for_system())
    assert client.post(account_url(world, "groups/"), {"name": "x"}, format="json").status_code == 201


def test_too_many_bad_tokens_from_one_address_get_429_but_a_good_one_gets_through(world, settings):
    settings.AUTH_FAILURES_PER_MINUTE = 3
    good = token_for(world.people.owner)
    for _ in range(3):
        assert_error(APIClient(headers={"Authorization": "Bearer hrwpat_a_b"}).get("/api/v1/accounts/"), 401)
    response = APIClient(headers={"Authorization": "Bearer hrwpat_a_b"}).get("/api/v1/accounts/")
    assert_error(response, 429, "too_many_failures")
    assert int(response["Retry-After"]) > 0
    assert APIClient(headers={"Authorization": f"Bearer {good}"}).get("/api/v1/accounts/").status_code == 200


def test_createapitoken_prints_only_a_working_token(world):
    out, err = StringIO(), StringIO()
    call_command("createapitoken", "olivia", "--expires-days", "7", stdout=out, stderr=err)
    printed = out.getvalue()
    assert printed.count("\n") <= 1
    plain = printed.strip()
    assert plain.startswith("hrwpat_") and " " not in plain
    token = ApiToken.objects.get(user=world.people.owner)
    assert token.expires_at is not None
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert plain not in str(ApiToken.objects.values().get()) and plain not in err.getvalue()
    response = APIClient(headers={"Authorization": f"Bearer {plain}"}).get("/api/v1/accounts/")
    assert response.status_code == 200
    assert [a["name"] for a in response.json()["results"]] == ["contoso-automation"]


def test_createapitoken_without_expiry_never_expires(world):
    out = StringIO()
    call_command("createapitoken", "rita", stdout=out)
    assert ApiToken.objects.get(user=world.people.reader).expires_at is None
    assert (
        APIClient(headers={"Authorization": f"Bearer {out.getvalue().strip()}"}).get("/api/v1/accounts/").status_code
        == 200
    )


@pytest.mark.parametrize(
    ("args", "message"), [(["nobody"], "no active user"), (["olivia", "--expires-days", "0"], "1 to")]
)
def test_createapitoken_refuses_bad_input_and_prints_no_token(world, args, message):
    out = StringIO()
    with pytest.raises(CommandError, match=message):
        call_command("createapitoken", *args, stdout=out)
    assert out.getvalue() == ""
    assert not ApiToken.objects.exists()

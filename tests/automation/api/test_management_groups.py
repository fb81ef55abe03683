"""The management API's hybrid worker groups: names in URLs, creating, deleting in the background."""

import pytest

from automation.models import AuditEvent, HybridWorker, HybridWorkerGroup
from automation.services.actor import Actor
from automation.services.groups import delete_group
from automation.services.workers import register_worker
from tests.automation.api.helpers import assert_error
from tests.automation.api.management_support import (
    GROUP,
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


def test_a_group_of_another_account_is_404(world):
    client = api_client(world.people.owner, "token")
    assert_error(client.get(group_url("b-lab", world)), 404, "not_found")
    assert_error(client.get(group_url("b-lab", world, "workers/")), 404, "not_found")
    before = state()
    assert_error(client.delete(group_url("b-lab", world)), 404, "not_found")
    assert state() == before


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


# ---- Hybrid worker group settings (Run as) ------------------------------------------------------------


@pytest.fixture
def deploy(world):
    from automation.services.credentials import create_credential

    create_credential(
        account=world.account, name="Deploy", username="deploy", password="Deploy-Pa55-word", actor=Actor.for_system()
    )
    create_credential(
        account=world.people.other_account,
        name="Theirs",
        username="x",
        password="Theirs-Pa55",
        actor=Actor.for_system(),
    )


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_owners_and_operators_set_a_groups_run_as_credential_and_every_member_reads_it(world, deploy, role):
    client = api_client(world.people.by_role[role], "token")
    assert client.get(group_url(GROUP, world)).json()["run_as_credential"] is None
    changed = client.patch(group_url(GROUP, world), {"run_as_credential": "deploy"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["run_as_credential"] == "Deploy"
    assert "Deploy-Pa55-word" not in changed.content.decode()
    reader = api_client(world.people.reader, "token")
    assert reader.get(group_url(GROUP, world)).json()["run_as_credential"] == "Deploy"
    listed = {g["name"]: g["run_as_credential"] for g in reader.get(account_url(world, "groups/")).json()["results"]}
    assert listed == {GROUP: "Deploy", "empty group": None}
    event = AuditEvent.objects.get(action="group.run_as")
    assert event.details == {"runs_jobs_as": "credential Deploy"} and event.actor == world.people.by_role[role]

    back = client.patch(group_url(GROUP, world), {"run_as_credential": None}, format="json")
    assert back.status_code == 200 and back.json()["run_as_credential"] is None
    assert HybridWorkerGroup.objects.get(account=world.account, name=GROUP).run_as_credential is None


@pytest.mark.parametrize(("role", "status", "code"), [("reader", 403, "forbidden"), ("stranger", 404, "not_found")])
@pytest.mark.parametrize("body", [{"run_as_credential": "Deploy"}, {"run_as_credential": None}, {}])
def test_readers_and_strangers_cannot_change_a_groups_run_as(world, deploy, role, status, code, body):
    client = api_client(world.people.by_role[role], "token")
    before = state()
    assert_error(client.patch(group_url(GROUP, world), body, format="json"), status, code)
    assert state() == before


@pytest.mark.parametrize("value", ["Nope", "Theirs", "", 5, True, ["Deploy"], {"name": "Deploy"}, "a\x00b", "x" * 300])
def test_a_run_as_naming_no_credential_of_the_account_is_400_naming_the_field(world, deploy, value):
    client = api_client(world.people.owner, "token")
    before = state()
    body = assert_error(client.patch(group_url(GROUP, world), {"run_as_credential": value}, format="json"), 400)
    assert body.get("field") == "run_as_credential" or "run_as_credential" in body["detail"], body
    assert state() == before


def test_an_unknown_field_in_a_group_change_is_400_and_changes_nothing(world, deploy):
    client = api_client(world.people.owner, "token")
    before = state()
    body = {"run_as_credential": "Deploy", "run_as": "root"}
    refused = assert_error(client.patch(group_url(GROUP, world), body, format="json"), 400, "invalid")
    assert "run_as" in refused["detail"]
    assert state() == before


def test_a_credential_a_group_runs_as_is_409_to_delete_naming_the_group(world, deploy):
    client = api_client(world.people.owner, "token")
    assert client.patch(group_url(GROUP, world), {"run_as_credential": "Deploy"}, format="json").status_code == 200
    before = state()
    body = assert_error(client.delete(account_url(world, "credentials/Deploy/")), 409, "credential_in_use")
    assert GROUP in body["detail"]
    assert state() == before

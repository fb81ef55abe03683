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

"""Hybrid worker groups through the service layer: created from the portal or by the first agent
registering into one, deleted (empty) by a Celery task through a notification."""

import pytest

from automation import tasks
from automation.models import AuditEvent, HybridWorkerGroup, Notification
from automation.services.actor import Actor
from automation.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from automation.services.groups import create_group, delete_group, request_group_deletion
from tests.support.builders import register
from tests.support.state import state

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_owners_and_operators_create_groups(people, role):
    group = create_group(account=people.account, name="lab linux.v2_x-1", actor=Actor(user=people.by_role[role]))
    assert group.created_by == people.by_role[role].username


@pytest.mark.parametrize(("role", "error"), [("reader", PermissionDenied), ("stranger", NotFound)])
def test_readers_and_strangers_cannot_create_groups(people, role, error):
    before = state()
    with pytest.raises(error):
        create_group(account=people.account, name="lab", actor=Actor(user=people.by_role[role]))
    assert state() == before


def test_group_names_are_unique_per_account(people):
    create_group(account=people.account, name="lab", actor=Actor(user=people.owner))
    create_group(account=people.other_account, name="lab", actor=Actor(user=people.stranger))
    before = state()
    with pytest.raises(Conflict):
        create_group(account=people.account, name="lab", actor=Actor(user=people.owner))
    with pytest.raises(InvalidInput):
        create_group(account=people.account, name="..", actor=Actor(user=people.owner))
    assert state() == before


def test_a_group_with_workers_is_not_deleted(people):
    register(people.account)
    register(people.account, machine_id="machine-0002", name="web-02")
    before = state()
    with pytest.raises(Conflict) as refused:
        request_group_deletion(account=people.account, group_name="lab", actor=Actor(user=people.owner))
    assert refused.value.code == "group_not_empty" and "web-01, web-02" in refused.value.detail
    assert state() == before and not Notification.objects.exists()


def test_deleting_an_empty_group_goes_through_a_notification(people, django_capture_on_commit_callbacks):
    group = create_group(account=people.account, name="lab", actor=Actor(user=people.owner))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notification = request_group_deletion(account=people.account, group_name="lab", actor=Actor(user=people.owner))
    assert len(callbacks) >= 1
    assert notification.state == "in_progress"
    assert HybridWorkerGroup.objects.get(pk=group.pk).deleting_since is not None
    assert delete_group(group_id=group.pk, notification_id=notification.pk, actor=Actor(user=people.owner))
    assert not HybridWorkerGroup.objects.filter(pk=group.pk).exists()
    notification.refresh_from_db()
    assert (notification.state, notification.level) == ("succeeded", "success")


def test_deleting_a_group_that_is_already_gone_fails_the_notification(people):
    group = create_group(account=people.account, name="lab", actor=Actor(user=people.owner))
    notification = request_group_deletion(account=people.account, group_name="lab", actor=Actor(user=people.owner))
    HybridWorkerGroup.objects.filter(pk=group.pk).delete()
    assert not delete_group(group_id=group.pk, notification_id=notification.pk, actor=Actor.for_system())
    notification.refresh_from_db()
    assert notification.state == "failed" and "no longer exists" in notification.message


def test_readers_cannot_delete_groups(people):
    create_group(account=people.account, name="lab", actor=Actor(user=people.owner))
    before = state()
    with pytest.raises(PermissionDenied):
        request_group_deletion(account=people.account, group_name="lab", actor=Actor(user=people.reader))
    with pytest.raises(NotFound):
        request_group_deletion(account=people.account, group_name="lab", actor=Actor(user=people.stranger))
    assert state() == before


def test_the_celery_task_runs_the_deletion(people):
    group = create_group(account=people.account, name="lab", actor=Actor(user=people.owner))
    notification = request_group_deletion(account=people.account, group_name="lab", actor=Actor(user=people.owner))
    assert tasks.delete_group.run(str(group.pk), str(notification.pk), people.owner.pk, "198.51.100.20")
    event = AuditEvent.objects.get(action="group.delete")
    assert event.actor == people.owner and event.source_ip == "198.51.100.20"

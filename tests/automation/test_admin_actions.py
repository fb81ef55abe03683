"""The Django admin's actions: each needs its own permission, so a staff member who may only view
sees none of them and cannot run one by posting it."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from automation.models import ApiToken, HybridWorker, Notification
from automation.services.actor import Actor
from automation.services.tokens import create_token
from automation.services.workers import register_worker
from portal.celery import app as celery_app

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

VIEW = ["view_hybridworker", "view_apitoken", "view_automationaccount"]
# What each action needs besides the view permission of its model.
ACTIONS = {
    "hybridworker": ("remove", "delete_hybridworker"),
    "apitoken": ("revoke", "delete_apitoken"),
    "automationaccount": ("announce", "add_notification"),
}
DONE = {
    "hybridworker": "Removed 1 worker(s).",
    "apitoken": "Revoked 1 token(s).",
    "automationaccount": "Queued a notification",
}


@pytest.fixture
def eager_tasks():
    """The announce task runs in this process (and this test's transaction) instead of waiting for a worker."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def staff(make_user, client_for):
    def make(username: str, *codenames: str):
        user = make_user(username, staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=[*VIEW, *codenames]))
        return client_for(user)

    return make


@pytest.fixture
def targets(people):
    """One of each thing an action acts on, all in accounts the staff member is no member of."""
    worker = register_worker(
        account=people.account, group_name="lab", machine_id="machine-0001", name="web-01", facts={}
    ).worker
    token = create_token(user=people.reader, name="ci", expires_days=None, actor=Actor(user=people.reader)).token
    return {"hybridworker": worker, "apitoken": token, "automationaccount": people.account}


def changelist(model: str) -> str:
    return reverse(f"admin:automation_{model}_changelist")


def post_action(client, model: str, target, **extra):
    data = {"action": ACTIONS[model][0], "_selected_action": [str(target.pk)], **extra}
    return client.post(changelist(model), data, follow=True)


def still_there(model: str, target) -> bool:
    if model == "hybridworker":
        return HybridWorker.objects.filter(pk=target.pk).exists()
    if model == "apitoken":
        return ApiToken.objects.filter(pk=target.pk).exists()
    return not Notification.objects.filter(account=target).exists()


ANNOUNCEMENT = {"apply": "1", "title": "Maintenance tonight", "message": "", "level": "info"}


@pytest.mark.parametrize("model", ACTIONS)
def test_a_view_only_staff_member_is_not_offered_the_action(staff, targets, model):
    client = staff("vera")

    response = client.get(changelist(model))

    assert response.status_code == 200
    assert f'value="{ACTIONS[model][0]}"' not in response.text


@pytest.mark.parametrize("model", ACTIONS)
def test_a_view_only_staff_member_posting_the_action_changes_nothing(staff, targets, model, eager_tasks):
    client = staff("vera")

    response = post_action(client, model, targets[model], **ANNOUNCEMENT)

    assert response.status_code == 200
    assert still_there(model, targets[model])
    assert DONE[model] not in response.text


@pytest.mark.parametrize("model", ACTIONS)
def test_a_staff_member_with_the_actions_permission_runs_it(staff, targets, model, eager_tasks):
    client = staff("petra", ACTIONS[model][1])

    offered = client.get(changelist(model))
    response = post_action(client, model, targets[model], **ANNOUNCEMENT)

    assert f'value="{ACTIONS[model][0]}"' in offered.text
    assert response.status_code == 200
    assert DONE[model] in response.text
    assert not still_there(model, targets[model])


@pytest.mark.parametrize("model", ACTIONS)
def test_the_permission_of_another_action_does_not_open_this_one(staff, targets, model, eager_tasks):
    others = [codename for name, (_, codename) in ACTIONS.items() if name != model]
    client = staff("otto", *others)

    response = post_action(client, model, targets[model], **ANNOUNCEMENT)

    assert still_there(model, targets[model])
    assert DONE[model] not in response.text

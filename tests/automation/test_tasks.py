"""The Celery task bodies, called directly: each loads its rows and does what its service does."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from automation import live, tasks
from automation.models import AuditEvent, HybridWorker, HybridWorkerGroup, Notification
from automation.queries.notifications import visible_to
from automation.services.actor import Actor
from automation.services.errors import InvalidInput
from automation.services.groups import create_group, request_group_deletion
from automation.services.presence import offline_after
from automation.services.workers import record_heartbeat
from automation.tasks import announce_to_account, sweep_worker_presence
from tests.support.builders import make_worker

pytestmark = pytest.mark.django_db

LAST_SWEEP = "presence:last-sweep"


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.HEARTBEAT_INTERVAL_SECONDS = 15


@pytest.fixture(autouse=True)
def _no_previous_sweep():
    """The cache is the run's real Redis: each test starts as if no sweep had run yet."""
    cache.delete(LAST_SWEEP)
    yield
    cache.delete(LAST_SWEEP)


@pytest.fixture
def pushes(monkeypatch):
    sent = []
    monkeypatch.setattr(live, "push_to_account", lambda account_id, payload: sent.append((account_id, payload)))
    return sent


@pytest.fixture
def queued(monkeypatch):
    calls = []
    # In the task's own attributes, so that undoing it leaves the task exactly as it was.
    task = tasks.delete_group._get_current_object()
    monkeypatch.setitem(vars(task), "delay", lambda *args: calls.append(args))
    return calls


def of_type(pushes, kind: str) -> list:
    return [(account_id, payload) for account_id, payload in pushes if payload["type"] == kind]


def fresh(worker) -> HybridWorker:
    return HybridWorker.objects.select_related("group", "account").get(pk=worker.pk)


def last_sweep():
    value = cache.get(LAST_SWEEP)
    return parse_datetime(value) if value else None


# ---- registration ----------------------------------------------------------------------


def test_the_tasks_are_registered_under_the_names_the_beat_and_the_services_use():
    from portal.celery import app

    names = {"automation.announce_to_account", "automation.delete_worker_group", "automation.sweep_worker_presence"}
    assert names <= set(app.tasks)
    assert settings.CELERY_BEAT_SCHEDULE["sweep-worker-presence"]["task"] == sweep_worker_presence.name


# ---- sweep_worker_presence -------------------------------------------------------------


@pytest.mark.sqlite
def test_the_sweep_tells_of_transitions_and_remembers_when_it_ran(people, pushes, django_capture_on_commit_callbacks):
    worker = make_worker(people.account)
    HybridWorker.objects.filter(pk=worker.pk).update(last_seen_at=timezone.now() - timedelta(minutes=5))

    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        first = sweep_worker_presence()
    after = timezone.now()

    assert first == {"offline": ["web-01"], "online": [], "seen": 0, "requeued": [], "lost": []}
    assert before <= last_sweep() <= after
    assert Notification.objects.get().title == "Worker web-01 in group lab went offline"
    assert of_type(pushes, "workers-seen") == []  # no sweep before this one to compare with

    record_heartbeat(worker=fresh(worker), facts={})
    previous = last_sweep()
    with django_capture_on_commit_callbacks(execute=True):
        second = sweep_worker_presence()

    assert second == {"offline": [], "online": ["web-01"], "seen": 1, "requeued": [], "lost": []}
    assert last_sweep() > previous
    worker = fresh(worker)
    assert of_type(pushes, "workers-seen") == [
        (
            people.account.pk,
            {
                "type": "workers-seen",
                "workers": [
                    {
                        "id": str(worker.pk),
                        "group_id": str(worker.group_id),
                        "last_seen": worker.last_seen_at.isoformat(),
                    }
                ],
            },
        )
    ]

    with django_capture_on_commit_callbacks(execute=True):
        third = sweep_worker_presence()

    # That heartbeat was pushed already.
    assert third == {"offline": [], "online": [], "seen": 0, "requeued": [], "lost": []}
    assert len(of_type(pushes, "workers-seen")) == 1


def test_the_sweep_pushes_heartbeats_since_the_time_it_remembered(people, pushes):
    quiet = make_worker(people.account, "web-01")
    busy = make_worker(people.account, "web-02")
    remembered = timezone.now() - timedelta(seconds=10)
    HybridWorker.objects.filter(pk=quiet.pk).update(last_seen_at=remembered - timedelta(seconds=1))
    HybridWorker.objects.filter(pk=busy.pk).update(last_seen_at=remembered + timedelta(seconds=5))
    cache.set(LAST_SWEEP, remembered.isoformat())

    result = sweep_worker_presence()

    assert result["seen"] == 1
    ((account_id, payload),) = of_type(pushes, "workers-seen")
    assert account_id == people.account.pk
    assert [w["id"] for w in payload["workers"]] == [str(busy.pk)]


def test_the_sweep_with_nothing_to_tell_still_remembers_its_time(db, pushes):
    result = sweep_worker_presence()

    assert result == {"offline": [], "online": [], "seen": 0, "requeued": [], "lost": []}
    assert last_sweep() is not None
    assert pushes == []


def test_the_sweep_leaves_a_worker_that_is_online_alone(people, pushes, django_capture_on_commit_callbacks):
    worker = make_worker(people.account)
    HybridWorker.objects.filter(pk=worker.pk).update(
        last_seen_at=timezone.now() - offline_after() + timedelta(seconds=10)
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = sweep_worker_presence()

    assert result["offline"] == []
    assert not Notification.objects.exists()
    assert fresh(worker).announced_online


# ---- delete_group (the task) --------------------------------------------------------------


@pytest.fixture
def deletion(people, queued):
    """Group lab, empty, with its deletion requested by oscar: (group, notification)."""
    group = create_group(account=people.account, name="lab", actor=Actor.for_system())
    notification = request_group_deletion(account=people.account, group_name="lab", actor=Actor(user=people.operator))
    return group, notification


@pytest.mark.sqlite
def test_deleting_a_group_removes_it_and_the_notification_succeeds(
    people, deletion, pushes, django_capture_on_commit_callbacks
):
    group, notification = deletion

    with django_capture_on_commit_callbacks(execute=True):
        deleted = tasks.delete_group(str(group.pk), str(notification.pk), people.operator.pk, "198.51.100.7")

    assert deleted is True
    assert not HybridWorkerGroup.objects.filter(pk=group.pk).exists()
    notification.refresh_from_db()
    assert (notification.state, notification.level) == ("succeeded", "success")
    assert (notification.title, notification.message) == (
        "Deleted hybrid worker group lab",
        'Hybrid worker group "lab" was deleted.',
    )
    event = AuditEvent.objects.get(action="group.delete")
    assert (event.actor, event.actor_name, event.source_ip, event.target_name) == (
        people.operator,
        "oscar",
        "198.51.100.7",
        "lab",
    )
    assert (people.account.pk, {"type": "group-deleted", "group_id": str(group.pk)}) in pushes
    updated = [p for _, p in of_type(pushes, "notification") if p["event"] == "updated"]
    assert [p["notification"]["state"] for p in updated] == ["succeeded"]


def test_a_deleted_or_absent_user_deletes_as_the_system(people, deletion):
    group, notification = deletion

    assert tasks.delete_group(str(group.pk), str(notification.pk), 987654321, "198.51.100.7")

    event = AuditEvent.objects.get(action="group.delete")
    assert (event.actor, event.actor_name) == (None, "system")


def test_a_worker_registered_meanwhile_keeps_the_group_and_the_notification_fails(people, deletion):
    group, notification = deletion
    HybridWorker.objects.create(
        account=people.account, group=group, name="late", machine_id="machine-late", credential_id="late"
    )

    assert tasks.delete_group(str(group.pk), str(notification.pk), people.operator.pk, None) is False

    assert HybridWorkerGroup.objects.get(pk=group.pk).deleting_since is None
    notification.refresh_from_db()
    assert (notification.state, notification.level) == ("failed", "error")
    assert notification.message == "Failed: a worker registered into it meanwhile."
    assert not AuditEvent.objects.filter(action="group.delete").exists()


def test_a_group_already_gone_fails_the_notification(people, deletion):
    group, notification = deletion
    HybridWorkerGroup.objects.filter(pk=group.pk).delete()

    assert tasks.delete_group(str(group.pk), str(notification.pk), people.operator.pk, None) is False

    notification.refresh_from_db()
    assert (notification.state, notification.message) == ("failed", "Failed: it no longer exists.")


def test_a_deletion_whose_notification_was_dismissed_still_deletes(people, deletion):
    group, notification = deletion
    Notification.objects.filter(pk=notification.pk).delete()

    assert tasks.delete_group(str(group.pk), str(notification.pk), people.operator.pk, None) is True

    assert not HybridWorkerGroup.objects.filter(pk=group.pk).exists()


def test_requesting_a_deletion_queues_the_task_with_ids_and_the_actor(
    people, deletion, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        group = create_group(account=people.account, name="second", actor=Actor.for_system())
        notification = request_group_deletion(
            account=people.account, group_name="second", actor=Actor(user=people.owner, ip="203.0.113.9")
        )

    assert queued == [(str(group.pk), str(notification.pk), people.owner.pk, "203.0.113.9")]


# ---- announce_to_account ---------------------------------------------------------------


@pytest.mark.sqlite
def test_an_announcement_reaches_every_member_of_the_account(people, pushes, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification_id = announce_to_account(str(people.account.pk), "Maintenance", "Tonight at 22:00.", "warning")

    notification = Notification.objects.get(pk=notification_id)
    assert (notification.account, notification.recipient) == (people.account, None)
    assert (notification.title, notification.message, notification.level) == (
        "Maintenance",
        "Tonight at 22:00.",
        "warning",
    )
    for user in (people.owner, people.operator, people.reader):
        assert list(visible_to(user)) == [notification]
    assert not visible_to(people.stranger).exists()
    ((account_id, payload),) = of_type(pushes, "notification")
    assert account_id == people.account.pk
    assert payload["notification"]["id"] == notification_id


def test_an_announcement_defaults_to_information_without_a_message(people):
    notification = Notification.objects.get(pk=announce_to_account(str(people.account.pk), "Hello"))

    assert (notification.message, notification.level) == ("", "info")


def test_an_announcement_to_an_unknown_account_does_nothing(db):
    assert announce_to_account(str(uuid.uuid4()), "Maintenance") is None
    assert not Notification.objects.exists()


@pytest.mark.parametrize(("title", "level"), [("Maintenance", "urgent"), ("   ", "info"), ("x" * 201, "info")])
def test_a_bad_announcement_is_refused_and_nothing_is_stored(people, title, level):
    with pytest.raises(InvalidInput):
        announce_to_account(str(people.account.pk), title, "", level)

    assert not Notification.objects.exists()

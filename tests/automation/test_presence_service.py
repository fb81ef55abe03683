"""Presence: the online rule (offline after three missed heartbeats), and the sweep that tells each
online/offline transition once and pushes the last-seen times that moved."""

from datetime import timedelta

import pytest
from django.utils import timezone

from automation import live
from automation.models import HybridWorker, Notification
from automation.queries.notifications import visible_to
from automation.services.presence import _announce, is_online, offline_after, sweep_presence
from automation.services.workers import record_heartbeat
from tests.support.builders import make_worker

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.HEARTBEAT_INTERVAL_SECONDS = 15  # offline after 45 s


@pytest.fixture
def pushes(monkeypatch):
    """What would be pushed to the open pages of each account: (account id, payload)."""
    sent = []
    monkeypatch.setattr(live, "push_to_account", lambda account_id, payload: sent.append((account_id, payload)))
    return sent


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the on-commit pushes, as they run after a real commit."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


def of_type(pushes, kind: str) -> list:
    return [(account_id, payload) for account_id, payload in pushes if payload["type"] == kind]


def register(account, name="web-01", group="lab") -> HybridWorker:
    return fresh(make_worker(account, name, group))


def fresh(worker) -> HybridWorker:
    return HybridWorker.objects.select_related("group", "account").get(pk=worker.pk)


def last_seen(worker, when) -> HybridWorker:
    HybridWorker.objects.filter(pk=worker.pk).update(last_seen_at=when)
    return fresh(worker)


def heartbeat(worker) -> HybridWorker:
    record_heartbeat(worker=fresh(worker), facts={})
    return fresh(worker)


def stamp(when) -> str:
    return timezone.localtime(when).strftime("%Y-%m-%d %H:%M:%S %Z")


def status(worker, online: bool) -> dict:
    return {
        "type": "worker-status",
        "worker_id": str(worker.pk),
        "group_id": str(worker.group_id),
        "status": "Online" if online else "Offline",
        "last_seen": worker.last_seen_at.isoformat(),
    }


# ---- going offline ---------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_worker_silent_for_more_than_three_heartbeats_is_announced_offline_once(people, pushes, committed):
    worker = register(people.account)
    now = worker.last_seen_at + offline_after() + timedelta(seconds=1)  # the clock travels

    with committed():
        result = sweep_presence(now=now)

    assert (result.went_offline, result.came_back) == (["web-01"], [])
    notification = Notification.objects.get()
    assert (notification.account, notification.recipient) == (people.account, None)
    assert (notification.title, notification.level) == ("Worker web-01 in group lab went offline", "warning")
    assert notification.message == f"Last heartbeat: {stamp(worker.last_seen_at)}."
    assert not fresh(worker).announced_online
    assert of_type(pushes, "worker-status") == [(people.account.pk, status(worker, online=False))]
    assert [p["notification"]["title"] for _, p in of_type(pushes, "notification")] == [notification.title]

    with committed():
        again = sweep_presence(now=now + timedelta(minutes=5))

    assert (again.went_offline, again.came_back) == ([], [])
    assert Notification.objects.count() == 1
    assert len(of_type(pushes, "worker-status")) == 1


def test_every_member_of_the_account_sees_the_offline_notification_and_no_one_else(people):
    register(people.account)

    sweep_presence(now=timezone.now() + offline_after() + timedelta(seconds=1))

    for user in (people.owner, people.operator, people.reader):
        assert [n.title for n in visible_to(user)] == ["Worker web-01 in group lab went offline"]
    assert not visible_to(people.stranger).exists()


def test_a_worker_is_offline_exactly_when_the_third_heartbeat_is_missed(people, pushes, committed):
    worker = register(people.account)

    with committed():
        just_before = sweep_presence(now=worker.last_seen_at + offline_after() - timedelta(milliseconds=1))
    assert just_before.went_offline == []
    assert not Notification.objects.exists()

    with committed():
        at_the_limit = sweep_presence(now=worker.last_seen_at + offline_after())
    # The sweep agrees with is_online (and so with the API's Online/Offline) at the boundary.
    assert at_the_limit.went_offline == [worker.name]
    assert not is_online(fresh(worker), worker.last_seen_at + offline_after())


def test_a_worker_never_heard_of_is_announced_offline_with_no_last_heartbeat(people):
    worker = last_seen(register(people.account), None)

    result = sweep_presence()

    assert result.went_offline == ["web-01"]
    assert Notification.objects.get().message == "Last heartbeat: never."
    assert not fresh(worker).announced_online


def test_a_worker_of_another_account_is_announced_to_that_account_only(people, pushes, committed):
    ours = register(people.account)
    theirs = last_seen(register(people.other_account, "db-01", group="data"), timezone.now() - timedelta(hours=1))

    with committed():
        result = sweep_presence()

    assert result.went_offline == ["db-01"]
    notification = Notification.objects.get()
    assert (notification.account, notification.title) == (
        people.other_account,
        "Worker db-01 in group data went offline",
    )
    assert of_type(pushes, "worker-status") == [(people.other_account.pk, status(theirs, online=False))]
    assert fresh(ours).announced_online


# ---- coming back -----------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_worker_that_heartbeats_again_is_announced_back_online_once(people, pushes, committed):
    worker = last_seen(register(people.account), timezone.now() - offline_after() - timedelta(seconds=1))
    with committed():
        assert sweep_presence().went_offline == ["web-01"]

    worker = heartbeat(worker)
    with committed():
        result = sweep_presence(now=timezone.now())

    assert (result.went_offline, result.came_back) == ([], ["web-01"])
    notification = Notification.objects.get(title="Worker web-01 in group lab is back online")
    assert (notification.account, notification.level) == (people.account, "success")
    assert notification.message == f"Last heartbeat: {stamp(worker.last_seen_at)}."
    assert fresh(worker).announced_online
    assert [p["status"] for _, p in of_type(pushes, "worker-status")] == ["Offline", "Online"]
    assert of_type(pushes, "worker-status")[-1] == (people.account.pk, status(worker, online=True))

    with committed():
        again = sweep_presence(now=timezone.now() + timedelta(seconds=10))

    assert (again.went_offline, again.came_back) == ([], [])
    assert Notification.objects.count() == 2
    assert len(of_type(pushes, "worker-status")) == 2


def test_a_worker_going_offline_again_is_announced_again(people):
    worker = register(people.account)
    start = worker.last_seen_at

    sweep_presence(now=start + timedelta(minutes=1))
    last_seen(worker, start + timedelta(minutes=2))
    sweep_presence(now=start + timedelta(minutes=2, seconds=1))
    sweep_presence(now=start + timedelta(minutes=3))

    titles = list(Notification.objects.order_by("created_at").values_list("title", flat=True))
    assert titles == [
        "Worker web-01 in group lab went offline",
        "Worker web-01 in group lab is back online",
        "Worker web-01 in group lab went offline",
    ]


def test_a_worker_that_never_went_offline_produces_nothing(people, pushes, committed):
    worker = register(people.account)
    start = worker.last_seen_at

    with committed():
        for seconds in (0, 15, 30, 44):
            last_seen(worker, start + timedelta(seconds=seconds))
            result = sweep_presence(now=start + timedelta(seconds=seconds + 30))
            assert (result.went_offline, result.came_back, result.seen) == ([], [], 0)

    assert not Notification.objects.exists()
    assert pushes == []
    assert fresh(worker).announced_online


# ---- two sweeps at once ----------------------------------------------------------------


def test_two_sweeps_racing_notify_once(people, pushes, committed):
    worker = last_seen(register(people.account), timezone.now() - timedelta(hours=1))
    seen_by_first, seen_by_second = fresh(worker), fresh(worker)

    with committed():
        first = _announce(seen_by_first, online=False)
        second = _announce(seen_by_second, online=False)

    assert (first, second) == (True, False)
    assert Notification.objects.count() == 1
    assert len(of_type(pushes, "worker-status")) == 1
    assert not fresh(worker).announced_online


def test_a_sweep_that_read_the_worker_before_another_sweep_told_people_stays_quiet(people):
    worker = last_seen(register(people.account), timezone.now() - timedelta(hours=1))
    stale = fresh(worker)

    sweep_presence()

    assert _announce(stale, online=False) is False
    assert Notification.objects.count() == 1


def test_announcing_what_was_already_announced_does_nothing(people, pushes, committed):
    worker = register(people.account)

    with committed():
        assert _announce(worker, online=True) is False

    assert not Notification.objects.exists()
    assert pushes == []


# ---- last-seen pushes ------------------------------------------------------------------


@pytest.mark.sqlite
def test_workers_seen_since_the_last_sweep_are_pushed_once_per_account(people, pushes, committed):
    since = timezone.now()
    moved = last_seen(register(people.account, "web-01"), since + timedelta(seconds=1))
    also_moved = last_seen(register(people.account, "web-02", group="other"), since + timedelta(seconds=3))
    still = last_seen(register(people.account, "web-03"), since - timedelta(seconds=1))
    elsewhere = last_seen(register(people.other_account, "db-01", group="data"), since + timedelta(seconds=2))

    with committed():
        result = sweep_presence(seen_since=since, now=since + timedelta(seconds=5))

    assert result.seen == 3
    seen = of_type(pushes, "workers-seen")
    assert sorted(account_id for account_id, _ in seen) == sorted([people.account.pk, people.other_account.pk])
    by_account = {account_id: payload["workers"] for account_id, payload in seen}

    def entry(worker):
        return {"id": str(worker.pk), "group_id": str(worker.group_id), "last_seen": worker.last_seen_at.isoformat()}

    assert sorted(by_account[people.account.pk], key=lambda w: w["id"]) == sorted(
        [entry(moved), entry(also_moved)], key=lambda w: w["id"]
    )
    assert by_account[people.other_account.pk] == [entry(elsewhere)]
    contoso_ids = {w["id"] for w in by_account[people.account.pk]}
    assert str(still.pk) not in contoso_ids
    assert str(elsewhere.pk) not in contoso_ids


def test_nothing_is_pushed_when_no_worker_was_seen_since_the_last_sweep(people, pushes, committed):
    worker = register(people.account)

    with committed():
        result = sweep_presence(seen_since=worker.last_seen_at, now=worker.last_seen_at + timedelta(seconds=5))

    assert result.seen == 0
    assert pushes == []


def test_without_a_previous_sweep_no_last_seen_times_are_pushed(people, pushes, committed):
    register(people.account)

    with committed():
        result = sweep_presence()

    assert result.seen == 0
    assert of_type(pushes, "workers-seen") == []


def test_a_heartbeat_after_the_last_sweep_is_pushed_with_its_new_time(people, pushes, committed):
    worker = register(people.account)
    since = timezone.now()

    worker = heartbeat(worker)
    with committed():
        sweep_presence(seen_since=since)

    ((account_id, payload),) = of_type(pushes, "workers-seen")
    assert account_id == people.account.pk
    assert payload["workers"] == [
        {"id": str(worker.pk), "group_id": str(worker.group_id), "last_seen": worker.last_seen_at.isoformat()}
    ]


# ---- the online rule -------------------------------------------------------------------


def test_offline_after_is_three_heartbeat_intervals(settings):
    settings.HEARTBEAT_INTERVAL_SECONDS = 15
    assert offline_after() == timedelta(seconds=45)
    settings.HEARTBEAT_INTERVAL_SECONDS = 7
    assert offline_after() == timedelta(seconds=21)
    assert settings.OFFLINE_AFTER_MISSED_HEARTBEATS == 3


def test_a_worker_is_online_until_three_heartbeats_are_missed(people, settings):
    settings.HEARTBEAT_INTERVAL_SECONDS = 10
    worker = register(people.account)
    now = worker.last_seen_at
    assert is_online(worker, now)
    assert is_online(worker, now + timedelta(seconds=29.9))
    assert not is_online(worker, now + timedelta(seconds=30))
    assert not is_online(worker, now + timedelta(hours=1))


def test_a_worker_never_seen_is_offline(people):
    worker = register(people.account)
    HybridWorker.objects.filter(pk=worker.pk).update(last_seen_at=None)
    assert not is_online(fresh(worker))


def test_is_online_defaults_to_now(people):
    worker = register(people.account)
    assert is_online(fresh(worker))
    HybridWorker.objects.filter(pk=worker.pk).update(last_seen_at=timezone.now() - offline_after())
    assert not is_online(fresh(worker))


def test_a_heartbeat_brings_an_offline_worker_back_online(people):
    worker = heartbeat(register(people.account))
    HybridWorker.objects.filter(pk=worker.pk).update(last_seen_at=timezone.now() - timedelta(hours=1))
    assert not is_online(fresh(worker))
    heartbeat(worker)
    assert is_online(fresh(worker))

"""automation.live, the one place that pushes: through the real Redis channel layer, only once the change
is committed, to the groups that pages and waiting agents join; and the one Redis client."""

import asyncio
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from automation import live
from automation.redis_client import for_celery, for_redis_py, redis_client

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


class Rollback(Exception):
    pass


def heard(group: str, act, *, count: int = 1) -> list[dict]:
    """The first `count` messages sent to `group` while `act()` runs (in this thread, with its database)."""
    layer = get_channel_layer()

    async def listen():
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            await sync_to_async(act)()
            return [await asyncio.wait_for(layer.receive(channel), timeout=30) for _ in range(count)]
        finally:
            await layer.group_discard(group, channel)

    return async_to_sync(listen)()


def test_each_group_name_has_one_builder():
    some = uuid.uuid4()
    assert live.account_group(some) == f"account-{some}"
    assert live.user_group(7) == "user-7"
    assert live.jobs_waiters(some) == f"jobs-{some}"
    assert live.worker_waiters(some) == f"worker-{some}"


def test_a_push_reaches_the_accounts_group_with_the_group_named(django_capture_on_commit_callbacks):
    account_id = uuid.uuid4()

    def act():
        with django_capture_on_commit_callbacks(execute=True):
            live.after_commit(live.push_to_account, account_id, {"type": "probe"})

    [message] = heard(live.account_group(account_id), act)
    assert message == {"type": "push.message", "group": live.account_group(account_id), "payload": {"type": "probe"}}


def test_nothing_is_pushed_for_a_change_that_is_rolled_back(django_capture_on_commit_callbacks):
    account_id = uuid.uuid4()

    def act():
        with django_capture_on_commit_callbacks(execute=True):
            with pytest.raises(Rollback), transaction.atomic():
                live.after_commit(live.push_to_account, account_id, {"type": "rolled back"})
                raise Rollback
            # Sent after the rolled-back one: heard first, it shows the other was never sent.
            live.after_commit(live.push_to_account, account_id, {"type": "committed"})

    [message] = heard(live.account_group(account_id), act)
    assert message["payload"] == {"type": "committed"}


def test_waking_a_group_and_a_worker_reaches_their_waiting_long_polls(django_capture_on_commit_callbacks):
    group_id, worker_id = uuid.uuid4(), uuid.uuid4()

    def wake_group():
        with django_capture_on_commit_callbacks(execute=True):
            live.wake_group_agents(group_id)

    def wake_worker():
        with django_capture_on_commit_callbacks(execute=True):
            live.wake_worker(worker_id)

    assert heard(live.jobs_waiters(group_id), wake_group) == [{"type": "wake"}]
    assert heard(live.worker_waiters(worker_id), wake_worker) == [{"type": "wake"}]


def test_a_push_without_redis_is_dropped_not_raised(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1"]},  # nothing listens there
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.pop("default", None)
    try:
        live.push_to_account(uuid.uuid4(), {"type": "lost"})  # the change is committed; delivery is a courtesy
    finally:
        channel_layers.backends.pop("default", None)


def test_one_redis_client_per_url_for_the_whole_process():
    client = redis_client(settings.REDIS_URL)
    assert client is redis_client(settings.REDIS_URL)
    assert client.ping()


@pytest.mark.parametrize(
    ("url", "celery", "redis_py"),
    [
        ("unix:///var/run/r.sock", "redis+socket:///var/run/r.sock", "unix:///var/run/r.sock"),
        ("redis+socket:///var/run/r.sock", "redis+socket:///var/run/r.sock", "unix:///var/run/r.sock"),
        ("redis://cache:6379/2", "redis://cache:6379/2", "redis://cache:6379/2"),
    ],
)
def test_one_redis_url_is_spelled_for_each_client(url, celery, redis_py):
    assert (for_celery(url), for_redis_py(url)) == (celery, redis_py)

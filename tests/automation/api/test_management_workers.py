"""The management API's hybrid workers: their fields, online or offline, removing one."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from automation.models import HybridWorker
from tests.automation.api.helpers import assert_error, call, register_body
from tests.automation.api.management_support import (
    GROUP,
    WORKER_FIELDS,
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

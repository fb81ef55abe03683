"""Registration as Add-HybridRunbookWorker behaves: groups appear on first use, the same machine
renews, clashes are refused with the fix spelled out, and keys roll over without disconnecting."""

import pytest
from django.conf import settings

from automation.models import AuditEvent, HybridWorker, HybridWorkerGroup
from automation.services.actor import Actor
from automation.services.keys import regenerate_key
from automation.services.workers import remove_worker
from tests.automation.api.helpers import assert_error, call, is_uuid, register, registered, rows

pytestmark = pytest.mark.django_db

FACTS = {
    "hostname": "web-01.lab.example",
    "os": "Debian GNU/Linux 12",
    "ip_addresses": ["10.0.0.5", "fe80::1"],
    "cpu_count": 4,
    "memory_bytes": 8 * 2**30,
    "load": [0.5, 0.25, 0.1],
    "agent_version": "1.0.0",
    "capacity": 2,
}


def heartbeat(agent, account, credential):
    return call(agent, account.pk, "heartbeat", {"facts": FACTS}, token=credential)


def test_the_first_registration_creates_the_group_and_the_worker(agent, people, keys):
    response = register(agent, people.account, keys["a"]["primary"], group="lab linux", facts=FACTS)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "worker_id",
        "name",
        "group",
        "account_id",
        "credential",
        "heartbeat_interval",
        "long_poll_timeout",
        "renewed",
    }
    assert is_uuid(body["worker_id"]) and body["account_id"] == str(people.account.pk)
    assert body["name"] == "web-01" and body["group"] == "lab linux" and body["renewed"] is False
    assert body["heartbeat_interval"] == settings.HEARTBEAT_INTERVAL_SECONDS
    assert body["long_poll_timeout"] == settings.LONG_POLL_SECONDS
    assert body["credential"].startswith("hrw_")

    group = HybridWorkerGroup.objects.get(account=people.account, name="lab linux")
    assert group.created_by == "worker web-01"
    worker = HybridWorker.objects.get(pk=body["worker_id"])
    assert (worker.group, worker.account, worker.machine_id) == (group, people.account, "machine-0001")
    assert (worker.os, worker.ip, worker.version, worker.capacity) == ("Debian GNU/Linux 12", "10.0.0.5", "1.0.0", 2)
    assert worker.last_seen_at is not None
    # Stored hashed: neither the credential nor its secret is kept.
    secret = body["credential"].split("_", 2)[2]
    assert secret not in worker.credential_hash and body["credential"] not in str(worker.__dict__)
    actions = set(AuditEvent.objects.filter(account=people.account).values_list("action", flat=True))
    assert {"group.create", "worker.register"} <= actions


def test_a_second_machine_joins_the_existing_group(agent, people, keys):
    registered(agent, people.account, keys["a"]["primary"])
    second = register(agent, people.account, keys["a"]["primary"], machine_id="machine-0002", name="web-02")
    assert second.status_code == 201
    assert HybridWorkerGroup.objects.filter(account=people.account).count() == 1
    assert HybridWorker.objects.filter(group__name="lab").count() == 2


def test_the_same_machine_in_the_same_group_renews_its_registration(agent, people, keys):
    first = registered(agent, people.account, keys["a"]["primary"])
    again = register(agent, people.account, keys["a"]["primary"], name="web-01-renamed", facts=FACTS)
    assert again.status_code == 200, again.content
    renewed = again.json()
    assert renewed["renewed"] is True
    assert renewed["worker_id"] == first["worker_id"] and renewed["name"] == "web-01-renamed"
    assert renewed["credential"] != first["credential"]
    assert HybridWorker.objects.count() == 1
    assert AuditEvent.objects.filter(action="worker.renew").count() == 1

    assert_error(heartbeat(agent, people.account, first["credential"]), 401, "unauthorized")
    assert heartbeat(agent, people.account, renewed["credential"]).status_code == 200


def test_a_name_taken_in_the_group_is_409_suggesting_another_name(agent, people, keys):
    registered(agent, people.account, keys["a"]["primary"])
    before = rows()
    response = register(agent, people.account, keys["a"]["primary"], machine_id="machine-0002")
    body = assert_error(response, 409, "name_taken")
    assert "web-01" in body["detail"] and "--name" in body["detail"] and body["field"] == "name"
    assert rows() == before


def test_the_same_name_in_another_group_is_fine(agent, people, keys):
    registered(agent, people.account, keys["a"]["primary"])
    response = register(agent, people.account, keys["a"]["primary"], machine_id="machine-0002", group="other")
    assert response.status_code == 201


def test_a_machine_registered_in_another_group_is_409_naming_the_worker_group_and_fix(agent, people, keys):
    registered(agent, people.account, keys["a"]["primary"], group="lab")
    before = rows()
    response = register(agent, people.account, keys["a"]["primary"], group="prod", name="web-01b")
    body = assert_error(response, 409, "registered_elsewhere")
    assert "worker 'web-01' in hybrid worker group 'lab'" in body["detail"]
    assert "Run 'hybridworker remove --endpoint URL --token -' (it asks for the key) first" in body["detail"]
    assert rows() == before
    assert not HybridWorkerGroup.objects.filter(name="prod").exists()


def test_a_machine_registered_in_another_account_is_409_without_naming_that_accounts_group(agent, people, keys):
    registered(agent, people.other_account, keys["b"]["primary"], group="fabrikam-secret")
    before = rows()
    body = assert_error(register(agent, people.account, keys["a"]["primary"]), 409, "registered_elsewhere")
    assert "in another Automation account" in body["detail"]
    assert "Run 'hybridworker remove --endpoint URL --token -' with that account's URL and key" in body["detail"]
    assert "fabrikam-secret" not in body["detail"] and "hybrid worker group" not in body["detail"]
    assert rows() == before


def test_re_registering_after_deregister_just_works(agent, people, keys):
    first = registered(agent, people.account, keys["a"]["primary"])
    assert call(agent, people.account.pk, "deregister", {}, token=first["credential"]).status_code == 200
    again = register(agent, people.account, keys["a"]["primary"])
    assert again.status_code == 201 and again.json()["renewed"] is False
    assert heartbeat(agent, people.account, again.json()["credential"]).status_code == 200


def test_re_registering_after_an_operator_removed_the_worker_just_works(agent, people, keys):
    first = registered(agent, people.account, keys["a"]["primary"])
    remove_worker(account=people.account, worker_id=first["worker_id"], actor=Actor(user=people.operator))
    again = register(agent, people.account, keys["a"]["primary"])
    assert again.status_code == 201
    assert heartbeat(agent, people.account, again.json()["credential"]).status_code == 200


def test_re_registering_into_another_group_after_deregister_just_works(agent, people, keys):
    first = registered(agent, people.account, keys["a"]["primary"], group="lab")
    assert call(agent, people.account.pk, "deregister", {}, token=first["credential"]).status_code == 200
    assert register(agent, people.account, keys["a"]["primary"], group="prod").status_code == 201


@pytest.mark.parametrize("slot", ["primary", "secondary"])
def test_either_key_registers(agent, people, keys, slot):
    assert register(agent, people.account, keys["a"][slot]).status_code == 201


def test_regenerating_the_primary_keeps_workers_connected_and_the_secondary_working(agent, people, keys):
    worker = registered(agent, people.account, keys["a"]["primary"])
    new_primary = regenerate_key(account=people.account, slot="primary", actor=Actor(user=people.owner))

    assert heartbeat(agent, people.account, worker["credential"]).status_code == 200
    old = register(agent, people.account, keys["a"]["primary"], machine_id="machine-0002", name="web-02")
    assert_error(old, 401, "unauthorized")
    assert (
        register(agent, people.account, keys["a"]["secondary"], machine_id="machine-0002", name="web-02").status_code
        == 201
    )
    assert register(agent, people.account, new_primary, machine_id="machine-0003", name="web-03").status_code == 201


def test_deregister_with_the_workers_credential_removes_it(agent, people, keys):
    worker = registered(agent, people.account, keys["a"]["primary"])
    response = call(agent, people.account.pk, "deregister", {}, token=worker["credential"])
    assert response.status_code == 200
    assert response.json() == {"removed": "web-01", "group": "lab"}
    assert not HybridWorker.objects.exists()
    assert AuditEvent.objects.filter(action="worker.deregister", target_name="web-01").count() == 1
    # The group stays, as in Azure: deleting it is a separate step.
    assert HybridWorkerGroup.objects.filter(name="lab").exists()


@pytest.mark.parametrize("slot", ["primary", "secondary"])
def test_deregister_with_an_account_key_and_the_machine_id(agent, people, keys, slot):
    registered(agent, people.account, keys["a"]["primary"])
    response = call(agent, people.account.pk, "deregister", {"machine_id": "machine-0001"}, token=keys["a"][slot])
    assert response.status_code == 200, response.content
    assert not HybridWorker.objects.exists()


def test_deregister_with_a_key_needs_the_machine_id(agent, people, keys):
    registered(agent, people.account, keys["a"]["primary"])
    before = rows()
    body = assert_error(call(agent, people.account.pk, "deregister", {}, token=keys["a"]["primary"]), 400, "invalid")
    assert "machine_id" in body["detail"]
    assert rows() == before


def test_deregister_of_an_unknown_machine_is_404(agent, people, keys):
    before = rows()
    response = call(agent, people.account.pk, "deregister", {"machine_id": "machine-9999"}, token=keys["a"]["primary"])
    assert_error(response, 404, "not_registered")
    assert rows() == before


def test_deregister_cannot_remove_another_accounts_machine_with_this_accounts_key(agent, people, keys):
    registered(agent, people.other_account, keys["b"]["primary"], machine_id="machine-b-0001")
    before = rows()
    response = call(
        agent, people.account.pk, "deregister", {"machine_id": "machine-b-0001"}, token=keys["a"]["primary"]
    )
    assert_error(response, 404, "not_registered")
    assert rows() == before


def test_registering_into_a_group_being_deleted_is_409(agent, people, keys):
    from automation.services.groups import create_group, request_group_deletion

    create_group(account=people.account, name="going", actor=Actor(user=people.owner))
    request_group_deletion(account=people.account, group_name="going", actor=Actor(user=people.owner))
    before = rows()
    body = assert_error(register(agent, people.account, keys["a"]["primary"], group="going"), 409)
    assert "being deleted" in body["detail"]
    assert rows() == before


def test_heartbeat_answers_with_the_worker_and_the_server_clock(agent, people, keys):
    import time

    worker = registered(agent, people.account, keys["a"]["primary"])
    response = heartbeat(agent, people.account, worker["credential"])
    assert response.status_code == 200
    body = response.json()
    assert body["worker_id"] == worker["worker_id"] and body["name"] == "web-01" and body["group"] == "lab"
    assert body["heartbeat_interval"] == settings.HEARTBEAT_INTERVAL_SECONDS
    assert abs(body["server_time"] - time.time()) < 60


def test_agent_endpoints_refuse_other_methods_with_json(agent, people, keys):
    response = agent.get(f"/agentsvc/accounts/{people.account.pk}/v1/register")
    assert_error(response, 405, "method_not_allowed")

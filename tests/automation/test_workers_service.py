"""Hybrid workers through the service layer: registration, heartbeats, credentials and removal (groups:
test_groups_service.py; online/offline: test_presence_service.py)."""

import re

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation.models import AuditEvent, HybridWorker, HybridWorkerGroup
from automation.services.actor import Actor
from automation.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from automation.services.workers import (
    deregister_worker,
    record_heartbeat,
    register_worker,
    remove_worker,
    worker_for_credential,
)
from tests.support import builders
from tests.support.state import state

pytestmark = pytest.mark.django_db

FACTS = {
    "os": "Debian GNU/Linux 12",
    "ip_addresses": ["10.0.0.5"],
    "agent_version": "1.0.0",
    "cpu_count": 4,
    "capacity": 2,
    "memory_bytes": 8 * 2**30,
}


def register(account, machine_id="machine-0001", name="web-01", group="lab", facts=None):
    return builders.register(account, name, group, machine_id=machine_id, facts=dict(FACTS if facts is None else facts))


def fresh(worker) -> HybridWorker:
    return HybridWorker.objects.select_related("group", "account").get(pk=worker.pk)


def updates(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]


def set_columns(sql: str) -> set[str]:
    """The columns an UPDATE statement writes."""
    set_clause = re.search(r"\bSET\b(.*?)\bWHERE\b", sql, re.S | re.I).group(1)
    return set(re.findall(r'"(\w+)"\s*=', set_clause))


def heartbeat_after_first(worker, facts=None):
    """Heartbeat once (the first one writes the facts) and return the worker as stored."""
    record_heartbeat(worker=fresh(worker), facts=dict(FACTS if facts is None else facts))
    return fresh(worker)


# ---- heartbeats -----------------------------------------------------------------------


def test_a_heartbeat_writes_only_last_seen_when_the_facts_are_not_due(people):
    worker = heartbeat_after_first(register(people.account).worker)
    stored_facts = worker.facts
    with CaptureQueriesContext(connection) as queries:
        record_heartbeat(worker=worker, facts=dict(FACTS))
    (sql,) = updates(queries)
    assert set_columns(sql) == {"last_seen_at"}
    assert len(queries.captured_queries) == 1, [q["sql"] for q in queries.captured_queries]
    after = fresh(worker)
    assert after.last_seen_at > worker.last_seen_at
    assert after.facts == stored_facts


def test_registering_stores_the_facts_with_their_time_so_the_next_heartbeat_writes_only_last_seen(people):
    before = timezone.now().timestamp()
    worker = register(people.account).worker
    assert fresh(worker).facts["reported_at"] >= before
    with CaptureQueriesContext(connection) as queries:
        record_heartbeat(worker=fresh(worker), facts=dict(FACTS))
    (sql,) = updates(queries)
    assert set_columns(sql) == {"last_seen_at"}


def test_a_heartbeat_without_facts_keeps_what_was_reported_before(people):
    worker = register(people.account).worker
    stored = HybridWorker.objects.values("facts", "os", "ip", "version", "capacity").get(pk=worker.pk)
    with CaptureQueriesContext(connection) as queries:
        record_heartbeat(worker=fresh(worker), facts={})
    (sql,) = updates(queries)
    assert set_columns(sql) == {"last_seen_at"}
    assert HybridWorker.objects.values("facts", "os", "ip", "version", "capacity").get(pk=worker.pk) == stored


def test_the_facts_are_refreshed_when_due(people, settings):
    worker = heartbeat_after_first(register(people.account).worker)
    stale = {**worker.facts, "reported_at": timezone.now().timestamp() - settings.FACTS_REFRESH_SECONDS - 1}
    HybridWorker.objects.filter(pk=worker.pk).update(facts=stale)
    new_facts = {**FACTS, "memory_bytes": 16 * 2**30}
    with CaptureQueriesContext(connection) as queries:
        record_heartbeat(worker=fresh(worker), facts=new_facts)
    (sql,) = updates(queries)
    assert "facts" in set_columns(sql)
    after = fresh(worker)
    assert after.facts["memory_bytes"] == 16 * 2**30
    assert after.facts["reported_at"] > stale["reported_at"]


def test_the_facts_are_not_rewritten_just_because_a_detail_changed(people):
    worker = heartbeat_after_first(register(people.account).worker)
    with CaptureQueriesContext(connection) as queries:
        record_heartbeat(worker=worker, facts={**FACTS, "memory_bytes": 1, "load": [3.0, 2.0, 1.0]})
    (sql,) = updates(queries)
    assert set_columns(sql) == {"last_seen_at"}


@pytest.mark.parametrize(
    ("change", "column", "value"),
    [
        ({"os": "Debian GNU/Linux 13"}, "os", "Debian GNU/Linux 13"),
        ({"ip_addresses": ["10.0.0.6"]}, "ip", "10.0.0.6"),
        ({"agent_version": "1.1.0"}, "version", "1.1.0"),
        ({"capacity": 8}, "capacity", 8),
    ],
)
def test_the_facts_are_refreshed_at_once_when_os_ip_version_or_capacity_changes(people, change, column, value):
    worker = heartbeat_after_first(register(people.account).worker)
    with CaptureQueriesContext(connection) as queries:
        record_heartbeat(worker=worker, facts={**FACTS, **change})
    (sql,) = updates(queries)
    assert {"last_seen_at", "facts", column} <= set_columns(sql)
    after = fresh(worker)
    assert getattr(after, column) == value
    assert all(after.facts[k] == v for k, v in change.items())


def test_capacity_falls_back_to_the_cpu_count_and_is_bounded(people):
    worker = register(people.account, facts={"cpu_count": 6}).worker
    assert fresh(worker).capacity == 6
    assert fresh(register(people.account, machine_id="machine-0002", name="w2", facts={}).worker).capacity == 1
    big = register(people.account, machine_id="machine-0003", name="w3", facts={"cpu_count": 4096}).worker
    assert fresh(big).capacity == 1024


def test_long_facts_are_cut_to_their_columns(people):
    worker = register(people.account, facts={"os": "L" * 300, "ip_addresses": ["1" * 100], "agent_version": "9" * 40})
    stored = fresh(worker.worker)
    assert (len(stored.os), len(stored.ip), len(stored.version)) == (200, 64, 32)


# ---- online / offline -----------------------------------------------------------------


# ---- registration ---------------------------------------------------------------------


def test_registering_returns_a_credential_that_finds_the_worker(people):
    registration = register(people.account)
    assert not registration.renewed
    found = worker_for_credential(registration.credential)
    assert found.pk == registration.worker.pk and found.account == people.account
    assert registration.credential.split("_", 2)[2] not in repr(HybridWorker.objects.values().get())


@pytest.mark.parametrize("token", ["", "hrw", "hrw__", "hrw_x_", "hrwpat_a_b", "nonsense", "hrw_0000000000000000_x"])
def test_a_malformed_or_unknown_credential_finds_nothing(people, token):
    register(people.account)
    assert worker_for_credential(token) is None


def test_renewing_replaces_the_credential_and_keeps_one_row(people):
    first = register(people.account)
    second = register(people.account, name="web-01b")
    assert second.renewed and second.worker.pk == first.worker.pk and second.worker.name == "web-01b"
    assert worker_for_credential(first.credential) is None
    assert worker_for_credential(second.credential).pk == first.worker.pk
    assert HybridWorker.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"group_name": "名前"}, "group"),
        ({"group_name": ""}, "group"),
        ({"name": " x"}, "name"),
        ({"name": None}, "name"),
        ({"machine_id": "short"}, "machine_id"),
        ({"machine_id": "m" * 65}, "machine_id"),
        ({"machine_id": "machine 0001"}, "machine_id"),
        ({"machine_id": "maschine-grün"}, "machine_id"),
        ({"machine_id": 12345678}, "machine_id"),
    ],
)
def test_registration_refuses_bad_input_before_writing(people, fields, field):
    before = state()
    arguments = {"group_name": "lab", "machine_id": "machine-0001", "name": "web-01", "facts": {}} | fields
    with pytest.raises(InvalidInput) as refused:
        register_worker(account=people.account, **arguments)
    assert refused.value.field == field
    assert state() == before


def test_a_name_clash_and_another_group_are_refused_without_writing(people):
    register(people.account)
    before = state()
    with pytest.raises(Conflict) as clash:
        register(people.account, machine_id="machine-0002")
    assert clash.value.code == "name_taken"
    with pytest.raises(Conflict) as elsewhere:
        register(people.account, group="prod")
    assert elsewhere.value.code == "registered_elsewhere"
    with pytest.raises(Conflict) as other_account:
        register(people.other_account)
    assert other_account.value.code == "registered_elsewhere"
    assert "another Automation account" in other_account.value.detail
    assert state() == before


def test_registration_is_audited_without_the_credential(people):
    registration = register(people.account)
    event = AuditEvent.objects.get(action="worker.register")
    assert event.account == people.account and event.target_id == str(registration.worker.pk)
    assert event.details == {"group": "lab"}
    assert registration.credential not in repr(AuditEvent.objects.values().get(pk=event.pk))
    group_event = AuditEvent.objects.get(action="group.create")
    assert group_event.details == {"by_worker": "web-01"} and group_event.actor_name == "system"


# ---- removal --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_owners_and_operators_remove_workers(people, role):
    registration = register(people.account)
    remove_worker(account=people.account, worker_id=registration.worker.pk, actor=Actor(user=people.by_role[role]))
    assert not HybridWorker.objects.exists()
    assert worker_for_credential(registration.credential) is None
    assert AuditEvent.objects.filter(action="worker.remove", actor=people.by_role[role]).exists()


@pytest.mark.parametrize(("role", "error"), [("reader", PermissionDenied), ("stranger", NotFound)])
def test_readers_and_strangers_cannot_remove_workers(people, role, error):
    registration = register(people.account)
    before = state()
    with pytest.raises(error):
        remove_worker(account=people.account, worker_id=registration.worker.pk, actor=Actor(user=people.by_role[role]))
    assert state() == before


def test_removing_a_worker_of_another_account_is_not_found(people):
    theirs = register(people.other_account, machine_id="machine-b-0001")
    before = state()
    with pytest.raises(NotFound):
        remove_worker(account=people.account, worker_id=theirs.worker.pk, actor=Actor(user=people.owner))
    assert state() == before


def test_deregistering_removes_the_worker_and_keeps_the_group(people):
    registration = register(people.account)
    deregister_worker(worker=fresh(registration.worker), source_ip="198.51.100.10")
    assert not HybridWorker.objects.exists() and HybridWorkerGroup.objects.filter(name="lab").exists()
    event = AuditEvent.objects.get(action="worker.deregister")
    assert event.source_ip == "198.51.100.10" and event.target_name == "web-01"


def test_heartbeat_interval_settings_are_sane():
    assert settings.FACTS_REFRESH_SECONDS >= settings.HEARTBEAT_INTERVAL_SECONDS

"""The audit log: what record_event stores, and that it never stores a secret."""

import pytest

from automation.models import AuditEvent, Membership
from automation.queries.audit import activity_of
from automation.services.actor import Actor
from automation.services.audit import record_event

pytestmark = pytest.mark.django_db


@pytest.mark.sqlite
def test_it_records_the_actor_action_target_and_source_ip(people):
    target = Membership.objects.get(account=people.account, user=people.reader)

    event = record_event(
        actor=Actor(user=people.owner, ip="192.0.2.10"),
        action="member.poke",
        account=people.account,
        target=target,
        details={"why": "testing"},
    )

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.account == people.account
    assert stored.actor == people.owner
    assert stored.actor_name == "olivia"
    assert stored.action == "member.poke"
    assert stored.target_type == "membership"
    assert stored.target_id == str(target.pk)
    assert stored.target_name == "rita in contoso-automation (Reader)"
    assert stored.details == {"why": "testing"}
    assert stored.source_ip == "192.0.2.10"
    assert stored.created_at is not None


def test_it_records_the_system_without_a_user_or_ip(db):
    event = record_event(actor=Actor.for_system(), action="maintenance")

    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor, stored.actor_name, stored.source_ip) == (None, "system", None)
    assert (stored.account, stored.target_type, stored.target_id, stored.target_name) == (None, "", "", "")
    assert stored.details == {}


def test_it_stores_an_ipv6_source_address(people):
    event = record_event(actor=Actor(user=people.owner, ip="2001:db8::1"), action="x", account=people.account)

    assert AuditEvent.objects.get(pk=event.pk).source_ip == "2001:db8::1"


@pytest.mark.sqlite
@pytest.mark.parametrize(
    "name",
    ["key", "primary_key", "API_KEY", "token", "access_token", "secret", "clientSecret", "password", "credential"],
)
def test_it_redacts_a_detail_named_like_a_secret(people, name):
    event = record_event(
        actor=Actor.for_system(), action="key.rotate", account=people.account, details={name: "hunter2", "user": "rita"}
    )

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.details == {name: "[redacted]", "user": "rita"}
    assert "hunter2" not in str(AuditEvent.objects.filter(pk=event.pk).values_list("details", flat=True).get())


def test_it_cuts_a_long_target_name_to_fit(people, monkeypatch):
    monkeypatch.setattr(Membership, "__str__", lambda self: "n" * 400)
    target = Membership.objects.get(account=people.account, user=people.reader)

    event = record_event(actor=Actor.for_system(), action="x", account=people.account, target=target)

    assert AuditEvent.objects.get(pk=event.pk).target_name == "n" * 255


def test_events_outlive_the_actor_and_the_account(people):
    record_event(actor=Actor(user=people.reader, ip="192.0.2.1"), action="x", account=people.account)
    account_pk = people.account.pk

    people.reader.delete()
    people.account.delete()

    event = AuditEvent.objects.get(action="x")
    assert (event.actor, event.account) == (None, None)
    assert event.actor_name == "rita"
    assert not AuditEvent.objects.filter(account_id=account_pk).exists()


@pytest.mark.sqlite
def test_the_activity_of_an_account_is_its_own_events_newest_first(people):
    for action in ("first", "second", "third"):
        record_event(actor=Actor.for_system(), action=action, account=people.account)
    record_event(actor=Actor.for_system(), action="elsewhere", account=people.other_account)

    actions = list(activity_of(people.account).values_list("action", flat=True))

    # The people fixture created the account and added two members before these three.
    assert actions[:3] == ["third", "second", "first"]
    assert "elsewhere" not in actions
    assert set(actions[3:]) == {"account.create", "member.add"}

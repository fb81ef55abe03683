"""The activity log blade: the account's audit events, newest first, a page at a time."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from automation.models import AuditEvent

pytestmark = pytest.mark.django_db


def activity_url(account) -> str:
    return reverse("portal:activity", args=[account.pk])


def add_events(account, count: int, *, start: int = 0, actor=None):
    """`count` events, one minute apart, newer than anything already there (auto_now_add is overridden after)."""
    base = timezone.now() + timedelta(days=1)
    events = AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                account=account,
                actor=actor,
                actor_name=actor.username if actor else "",
                action="runbook.start",
                target_type="runbook",
                target_id=str(i),
                target_name=f"runbook-{i:03}",
                details={"n": i},
                source_ip="192.0.2.5",
            )
            for i in range(start, start + count)
        ]
    )
    for offset, event in enumerate(events):
        event.created_at = base + timedelta(minutes=start + offset)
    AuditEvent.objects.bulk_update(events, ["created_at"])
    return events


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator", "reader"])
def test_every_member_reads_the_activity_log(people, client_for, role):
    response = client_for(people.by_role[role]).get(activity_url(people.account))

    assert response.status_code == 200
    assert "activity/index.html" in [t.name for t in response.templates]
    actions = [e.action for e in response.context["page"]]
    assert sorted(actions) == ["account.create", "member.add", "member.add"]


@pytest.mark.sqlite
def test_the_log_shows_who_did_what_to_which_target_from_where(people, client_for):
    client_for(people.owner).post(
        reverse("portal:access_role", args=[people.account.pk, people.account.memberships.get(user=people.reader).pk]),
        {"role": "operator"},
    )

    response = client_for(people.reader).get(activity_url(people.account))

    content = response.content.decode()
    first = response.context["page"][0]
    assert first.action == "member.change_role"
    assert '<span class="pill">member.change_role</span>' in content
    assert first.target_name == "rita in contoso-automation (Operator)"
    assert "<td>rita in contoso-automation (Operator)</td>" in content
    assert "<td>olivia</td>" in content
    # The details' order is the database's (PostgreSQL's jsonb sorts the keys), so each is checked alone.
    for detail in ("user: <bdi>rita</bdi>", "from: <bdi>Reader</bdi>", "to: <bdi>Operator</bdi>"):
        assert detail in content
    assert '<td class="mono">127.0.0.1</td>' in content


def test_events_without_a_user_read_as_system(people, client_for):
    response = client_for(people.reader).get(activity_url(people.account))

    assert "<td>system</td>" in response.content.decode()


@pytest.mark.sqlite
def test_the_log_shows_only_this_accounts_events(people, client_for):
    add_events(people.other_account, 3, actor=people.stranger)

    response = client_for(people.stranger).get(activity_url(people.account))
    assert response.status_code == 404

    response = client_for(people.owner).get(activity_url(people.account))
    assert {e.account_id for e in response.context["page"]} == {people.account.pk}
    assert b"runbook-" not in response.content


def test_the_log_is_newest_first_fifty_to_a_page(people, client_for):
    add_events(people.account, 117)
    client = client_for(people.reader)

    first = client.get(activity_url(people.account))
    last = client.get(activity_url(people.account), {"page": 3})

    assert [e.target_name for e in first.context["page"]][:3] == ["runbook-116", "runbook-115", "runbook-114"]
    assert len(first.context["page"]) == 50
    assert "1\u201350 of 120" in first.content.decode()
    assert len(last.context["page"]) == 20
    assert "101\u2013120 of 120" in last.content.decode()
    assert last.context["page"][19].action == "account.create"


@pytest.mark.parametrize("page", ["0", "-1", "999", "abc", ""])
def test_a_page_number_out_of_range_shows_a_page_instead_of_failing(people, client_for, page):
    add_events(people.account, 60)

    response = client_for(people.reader).get(activity_url(people.account), {"page": page})

    assert response.status_code == 200
    assert len(response.context["page"]) > 0


def test_what_was_recorded_is_shown_escaped(people, client_for):
    AuditEvent.objects.create(
        account=people.account, action="x", target_name="<script>alert(1)</script>", details={"<b>": "<i>"}
    )

    content = client_for(people.reader).get(activity_url(people.account)).content.decode()

    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "&lt;b&gt;: <bdi>&lt;i&gt;</bdi>" in content


def test_an_empty_log_says_so(people, client_for):
    AuditEvent.objects.filter(account=people.account).delete()

    response = client_for(people.reader).get(activity_url(people.account))

    assert b"No activity recorded yet." in response.content


def test_the_activity_log_costs_the_same_queries_for_5_or_200_events(people, client_for):
    client = client_for(people.reader)
    existing = AuditEvent.objects.filter(account=people.account).count()

    def measure(expected_total):
        assert AuditEvent.objects.filter(account=people.account).count() == expected_total
        with CaptureQueriesContext(connection) as queries:
            response = client.get(activity_url(people.account))
        assert response.status_code == 200
        assert response.content.count(b'<span class="pill">') == min(expected_total, 50)
        return [q["sql"] for q in queries.captured_queries]

    add_events(people.account, 5 - existing, actor=people.owner)
    client.get(activity_url(people.account))  # warm up: the first request of a session may load more
    with_5 = measure(5)
    add_events(people.account, 195, start=100, actor=people.owner)
    with_200 = measure(200)

    assert len(with_200) == len(with_5), "\n".join(with_200)

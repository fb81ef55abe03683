"""The overview blade of an Automation account."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from automation.models import AuditEvent, Role
from automation.services.accounts import add_member
from automation.services.actor import Actor

pytestmark = pytest.mark.django_db


def overview_url(account) -> str:
    return reverse("portal:overview", args=[account.pk])


@pytest.mark.sqlite
@pytest.mark.parametrize(("role", "label"), [("owner", "Owner"), ("operator", "Operator"), ("reader", "Reader")])
def test_every_member_sees_the_essentials_and_their_own_role(people, client_for, role, label):
    response = client_for(people.by_role[role]).get(overview_url(people.account))

    assert response.status_code == 200
    assert "overview/index.html" in [t.name for t in response.templates]
    content = response.content.decode()
    assert "<dt>Account name</dt><dd>contoso-automation</dd>" in content
    assert f'<dd class="mono">{people.account.pk}</dd>' in content
    assert f"<dt>Region</dt><dd>{people.account.region}</dd>" in content
    assert f"<dt>Your role</dt><dd>{label}</dd>" in content


@pytest.mark.sqlite
def test_the_overview_counts_all_members_and_this_accounts_activity(people, client_for):
    response = client_for(people.reader).get(overview_url(people.account))

    assert response.context["account"].member_count == 3
    assert "<dt>Members</dt><dd>3</dd>" in response.content.decode()
    # account.create and two member.add; fabrikam's own events are not counted.
    assert response.context["activity_count"] == 3
    assert response.context["activity_count"] == AuditEvent.objects.filter(account=people.account).count()


def test_the_overview_of_another_account_is_its_own(people, client_for):
    response = client_for(people.stranger).get(overview_url(people.other_account))

    content = response.content.decode()
    assert "<dt>Account name</dt><dd>fabrikam-automation</dd>" in content
    assert "<dt>Members</dt><dd>1</dd>" in content
    assert response.context["activity_count"] == 1


def test_the_overview_links_to_the_other_blades(people, client_for):
    content = client_for(people.reader).get(overview_url(people.account)).content.decode()

    assert reverse("portal:activity", args=[people.account.pk]) in content
    assert reverse("portal:access", args=[people.account.pk]) in content


def test_a_stranger_gets_404_and_learns_nothing(people, client_for):
    response = client_for(people.stranger).get(overview_url(people.account))

    assert response.status_code == 404
    assert str(people.account.pk).encode() not in response.content
    assert b"contoso-automation" not in response.content


def test_the_overview_costs_the_same_queries_however_many_members(people, client_for):
    client = client_for(people.reader)
    client.get(overview_url(people.account))  # warm up

    with CaptureQueriesContext(connection) as few:
        client.get(overview_url(people.account))
    User = get_user_model()
    User.objects.bulk_create([User(username=f"member{i:03}", password="!") for i in range(50)])
    for i in range(50):
        add_member(account=people.account, username=f"member{i:03}", role=Role.READER, actor=Actor.for_system())
    with CaptureQueriesContext(connection) as many:
        response = client.get(overview_url(people.account))

    assert "<dt>Members</dt><dd>53</dd>" in response.content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_overview_counts_groups_and_workers_and_who_is_online(people, client_for):
    from datetime import timedelta

    from django.utils import timezone

    from automation.models import HybridWorker
    from automation.services.groups import create_group
    from automation.services.workers import register_worker

    system = Actor.for_system()
    create_group(account=people.account, name="empty-group", actor=system)
    for n in range(3):
        register_worker(
            account=people.account, group_name="lab", machine_id=f"machine-{n:04d}", name=f"web-{n}", facts={}
        )
    register_worker(account=people.other_account, group_name="lab", machine_id="machine-9999", name="x", facts={})
    HybridWorker.objects.filter(name="web-0").update(last_seen_at=timezone.now() - timedelta(hours=1))

    totals = client_for(people.reader).get(overview_url(people.account)).context["totals"]

    assert totals == {"groups": 2, "workers": 3, "online": 2}


def _jobs_with_pickups(account, pickups_ms, *, status="Completed", age=timedelta(minutes=5)):
    """Jobs as the claim leaves them: queued, claimed `pickup` ms later, within the last hour unless aged."""
    from automation.models import Job

    now = timezone.now() - age
    created = Job.objects.bulk_create(
        [
            Job(
                account=account,
                runbook_name="hello",
                version_number=1,
                group_name="lab",
                status=status,
                queued_at=now,
                claimed_at=now,
                pickup_ms=ms,
            )
            for ms in pickups_ms
        ]
    )
    Job.objects.filter(pk__in=[job.pk for job in created]).update(created_at=now)


@pytest.mark.sqlite
def test_the_overview_shows_pickup_latency_p50_p95_and_jobs_by_status_over_the_last_hour(people, client_for):
    _jobs_with_pickups(people.account, [10 * n for n in range(1, 101)])  # 10 ms … 1000 ms
    _jobs_with_pickups(people.account, [5, 5], status="Failed")
    _jobs_with_pickups(people.account, [99_999] * 5, age=timedelta(hours=2))  # out of the window
    _jobs_with_pickups(people.other_account, [99_999] * 5)  # another account's

    response = client_for(people.reader).get(overview_url(people.account))

    stats = response.context["jobs"]
    assert dict(stats["by_status"])["Completed"] == 100
    assert dict(stats["by_status"])["Failed"] == 2
    assert stats["total"] == 102 and stats["claimed"] == 102
    # Nearest rank over 102 sorted values: 5, 5, 10, 20, …, 1000.
    assert (stats["pickup_p50"], stats["pickup_p95"]) == (490, 950)
    html = response.content.decode()
    assert "490 ms" in html and "p95 950 ms" in html
    assert html.count('id="pickup-latency"') == 1 and html.count('id="jobs-last-hour"') == 1


def test_the_overview_says_when_no_job_was_picked_up(people, client_for):
    html = client_for(people.reader).get(overview_url(people.account)).content.decode()

    assert "No job was picked up in the last hour" in html


@pytest.mark.sqlite
def test_the_job_figures_cost_the_same_queries_however_many_jobs(people, client_for):
    client = client_for(people.reader)
    _jobs_with_pickups(people.account, [7] * 3)
    client.get(overview_url(people.account))
    with CaptureQueriesContext(connection) as few:
        client.get(overview_url(people.account))
    _jobs_with_pickups(people.account, list(range(500)))
    with CaptureQueriesContext(connection) as many:
        client.get(overview_url(people.account))

    assert len(many.captured_queries) == len(few.captured_queries)

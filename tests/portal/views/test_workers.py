"""The Hybrid workers blades: a group's workers, a worker's properties, and removing a worker."""

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from automation.models import AuditEvent, HybridWorker, HybridWorkerGroup
from automation.services.actor import Actor
from automation.services.groups import create_group
from automation.services.presence import offline_after
from automation.services.workers import worker_for_credential
from tests.portal.views.test_keys import STATE_DIR_HINT
from tests.support import builders
from tests.support.htmx import HTMX, htmx_headers
from tests.support.state import state

pytestmark = pytest.mark.django_db

ROLES = ["owner", "operator", "reader"]
GiB = 2**30

FACTS = {
    "hostname": "web-01.contoso.test",
    "os": "Debian GNU/Linux 12 (bookworm)",
    "ip_addresses": ["10.0.0.5", "fd00::5"],
    "cpu_count": 8,
    "memory_bytes": 16 * GiB,
    "memory_available_bytes": 6 * GiB,
    "disk_free_bytes": 20 * GiB,
    "load": [0.5, 0.25, 1.5],
    "agent_version": "1.2.3",
    "python_version": "3.11.2",
    "capacity": 4,
}


def templates(response) -> list[str]:
    return [t.name for t in response.templates]


def commands(response) -> list[str]:
    """The labels of the blade's command bar."""
    return re.findall(r'<a class="cmd[^"]*"[^>]*>\s*<svg[^>]*>.*?</svg>([^<]+)</a>', response.content.decode())


def listed(response) -> list[str]:
    """The worker names in the table, in order."""
    return re.findall(r'<tr data-worker="([^"]+)"', response.content.decode())


def register(account, name="web-01", group="lab", facts=None):
    """A registered worker and its credential."""
    registration = builders.register(account, name, group, facts=dict(FACTS if facts is None else facts))
    return registration.worker, registration.credential


def workers_url(p, group) -> str:
    return reverse("portal:group_workers", args=[p.account.pk, group.pk])


def worker_url(p, worker) -> str:
    return reverse("portal:worker", args=[p.account.pk, worker.pk])


def remove_url(p, worker) -> str:
    return reverse("portal:worker_remove", args=[p.account.pk, worker.pk])


@pytest.fixture
def lab(people):
    """Group lab with web-01 (online) and web-02 (not heard of for an hour)."""
    web01, credential = register(people.account, "web-01")
    web02, _ = register(people.account, "web-02", facts={})
    HybridWorker.objects.filter(pk=web02.pk).update(last_seen_at=timezone.now() - timedelta(hours=1))

    class Lab:
        group = web01.group
        online, offline = web01, web02
        online_credential = credential

    return Lab


# ---- who may do what -------------------------------------------------------------------

# (route, method): status for owner, operator, reader, stranger
ANSWERS = {
    ("group_workers", "get"): (200, 200, 200, 404),
    ("worker", "get"): (200, 200, 200, 404),
    ("worker_remove", "get"): (200, 200, 403, 404),
    ("worker_remove", "post"): (302, 302, 403, 404),
}


def route_url(p, route, lab) -> str:
    target = lab.group if route == "group_workers" else lab.online
    return reverse(f"portal:{route}", args=[p.account.pk, target.pk])


@pytest.mark.parametrize(("route", "method"), list(ANSWERS))
@pytest.mark.parametrize("role", [*ROLES, "stranger"])
def test_each_role_gets_the_answer_its_role_allows(people, client_for, lab, route, method, role):
    before = state()

    client = client_for(people.by_role[role])
    url = route_url(people, route, lab)
    response = client.get(url) if method == "get" else client.post(url)

    expected = ANSWERS[(route, method)][[*ROLES, "stranger"].index(role)]
    assert response.status_code == expected, response.content.decode()[:500]
    if expected in (403, 404):
        assert state() == before
        assert "errors/error.html" in templates(response)
        assert worker_for_credential(lab.online_credential) is not None
    if expected == 404:
        assert b"contoso-automation" not in response.content
        assert b"web-01" not in response.content


@pytest.mark.sqlite
@pytest.mark.parametrize(("route", "method"), list(ANSWERS))
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_stranger_gets_404_for_every_worker_url_and_nothing_changes(people, client_for, lab, route, method, htmx):
    before = state()
    client = client_for(people.stranger)
    url = route_url(people, route, lab)

    headers = htmx_headers(htmx)
    response = client.get(url, headers=headers) if method == "get" else client.post(url, headers=headers)

    assert response.status_code == 404
    assert b"There is nothing here, or you do not have access to it." in response.content
    assert state() == before


@pytest.mark.parametrize("route", ["group_workers", "worker", "worker_remove"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_worker_is_not_found_under_another_account(people, client_for, lab, route, method):
    """The stranger owns fabrikam; contoso's group and worker are not found under fabrikam's URL."""
    target = lab.group if route == "group_workers" else lab.online
    url = reverse(f"portal:{route}", args=[people.other_account.pk, target.pk])
    before = state()

    client = client_for(people.stranger)
    response = client.get(url) if method == "get" else client.post(url)

    assert response.status_code == 404
    assert state() == before
    assert worker_for_credential(lab.online_credential) is not None


@pytest.mark.parametrize("route", ["worker", "worker_remove"])
def test_an_unknown_worker_id_is_not_found(people, client_for, route):
    response = client_for(people.owner).get(reverse(f"portal:{route}", args=[people.account.pk, uuid.uuid4()]))

    assert response.status_code == 404


def test_a_group_id_is_not_a_worker_id(people, client_for, lab):
    response = client_for(people.owner).get(reverse("portal:worker", args=[people.account.pk, lab.group.pk]))

    assert response.status_code == 404


# ---- a group's workers -----------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ROLES)
def test_every_member_sees_the_workers_of_a_group_and_whether_they_are_online(people, client_for, lab, role):
    register(people.account, "db-01", group="other")

    response = client_for(people.by_role[role]).get(workers_url(people, lab.group))

    assert response.status_code == 200
    assert "workers/index.html" in templates(response)
    assert listed(response) == ["web-01", "web-02"]
    content = response.content.decode()
    row1 = re.search(r'<tr data-worker="web-01".*?</tr>', content, re.S).group(0)
    row2 = re.search(r'<tr data-worker="web-02".*?</tr>', content, re.S).group(0)
    assert '<span class="status online">Online</span>' in row1
    assert "10.0.0.5" in row1 and "Debian GNU/Linux 12 (bookworm)" in row1 and "1.2.3" in row1
    assert '<span class="status offline">Offline</span>' in row2
    assert "2 workers" in content


def test_a_worker_never_heard_of_shows_never(people, client_for, lab):
    HybridWorker.objects.filter(pk=lab.offline.pk).update(last_seen_at=None)

    content = client_for(people.reader).get(workers_url(people, lab.group)).content.decode()

    row = re.search(r'<tr data-worker="web-02".*?</tr>', content, re.S).group(0)
    assert '<span class="muted">Never</span>' in row
    assert "Offline" in row


def test_a_worker_is_offline_after_three_missed_heartbeats(people, client_for, lab, settings):
    settings.HEARTBEAT_INTERVAL_SECONDS = 15
    client = client_for(people.reader)
    seen = timezone.now() - offline_after() + timedelta(seconds=5)
    HybridWorker.objects.filter(pk=lab.online.pk).update(last_seen_at=seen)
    assert client.get(worker_url(people, lab.online)).context["worker"].is_online

    HybridWorker.objects.filter(pk=lab.online.pk).update(last_seen_at=seen - timedelta(seconds=10))

    assert not client.get(worker_url(people, lab.online)).context["worker"].is_online


def test_an_empty_group_tells_how_to_register_a_worker(people, client_for):
    group = create_group(account=people.account, name="empty", actor=Actor.for_system())

    response = client_for(people.reader).get(workers_url(people, group))

    assert listed(response) == []
    content = response.content.decode()
    assert '<code>hybridworker register --group "empty" --endpoint URL --token -</code>' in content
    assert STATE_DIR_HINT in content
    assert b"0 workers" in response.content


def test_an_htmx_request_gets_just_the_table(people, client_for, lab):
    response = client_for(people.reader).get(workers_url(people, lab.group), headers=HTMX)

    assert response.status_code == 200
    assert templates(response)[0] == "workers/partials/table.html"
    assert "base.html" not in templates(response)
    assert listed(response) == ["web-01", "web-02"]


def test_the_table_refreshes_on_the_events_of_its_group(people, client_for, lab):
    """portal.js refetches the table on these events when their group_id is this group's."""
    content = client_for(people.reader).get(workers_url(people, lab.group)).content.decode()

    match = re.search(r'id="workers-table" data-live-refresh="([^"]+)" data-live-group="([^"]+)"', content)
    assert sorted(match.group(1).split()) == ["worker-registered", "worker-removed", "worker-status"]
    assert match.group(2) == str(lab.group.pk)
    # workers-seen patches "Last seen" in place: each row carries the worker's id and a last-seen time.
    row = re.search(rf'<tr data-worker="web-01" data-worker-id="{lab.online.pk}">.*?</tr>', content, re.S).group(0)
    assert 'class="relative last-seen"' in row


def test_the_list_costs_the_same_queries_for_5_or_500_workers(people, client_for):
    group = create_group(account=people.account, name="big", actor=Actor.for_system())
    now = timezone.now()
    client = client_for(people.reader)
    url = workers_url(people, group)

    def add_workers(start, stop):
        HybridWorker.objects.bulk_create(
            [
                HybridWorker(
                    account=people.account,
                    group=group,
                    name=f"worker-{i:03}",
                    machine_id=f"machine-{i:03}",
                    credential_id=f"cred-{i:03}",
                    credential_hash="!",
                    last_seen_at=now - timedelta(minutes=i % 3),
                    os="Debian GNU/Linux 12",
                    ip=f"10.0.{i // 256}.{i % 256}",
                    version="1.0.0",
                )
                for i in range(start, stop)
            ]
        )

    def measure(expected_rows):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        assert len(listed(response)) == expected_rows
        return [q["sql"] for q in queries.captured_queries]

    add_workers(0, 5)
    client.get(url)  # warm up: the first request of a session may load more
    with_5 = measure(5)
    add_workers(5, 500)
    with_500 = measure(500)

    assert len(with_500) == len(with_5), "\n".join(with_500)


# ---- a worker's properties -------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ROLES)
def test_every_member_sees_a_workers_host_facts(people, client_for, lab, role):
    response = client_for(people.by_role[role]).get(worker_url(people, lab.online))

    assert response.status_code == 200
    assert "workers/detail.html" in templates(response)
    content = response.content.decode()
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd[^>]*>(.*?)</dd>", content, re.S))
    assert facts["Status"] == '<span class="status online">Online</span>'
    assert facts["Host name"] == "web-01.contoso.test"
    assert facts["Operating system"] == "Debian GNU/Linux 12 (bookworm)"
    assert facts["IP addresses"] == "<bdi>10.0.0.5</bdi>, <bdi>fd00::5</bdi>"
    assert facts["CPUs"] == "8"
    assert facts["Load (1, 5, 15 min)"] == "0.50, 0.25, 1.50"
    assert facts["Memory"] == "6.0\xa0GB free of 16.0\xa0GB"
    assert facts["Free disk (state folder)"] == "20.0\xa0GB"
    assert facts["Concurrent jobs"] == "4"
    assert facts["Agent version"] == '<bdi>1.2.3</bdi> <span class="muted">(Python <bdi>3.11.2</bdi>)</span>'
    assert "recommended" not in content
    assert "below 500 MB" not in content
    assert str(lab.online.machine_id) in content


def test_a_small_machine_is_flagged_below_the_recommendations(people, client_for):
    worker, _ = register(
        people.account,
        facts={**FACTS, "cpu_count": 1, "capacity": 1, "memory_bytes": 2 * GiB, "disk_free_bytes": 100 * 2**20},
    )

    content = client_for(people.reader).get(worker_url(people, worker)).content.decode()

    assert "below the 2 recommended" in content
    assert "below the 4 GB recommended" in content
    assert "below 500 MB" in content


def test_a_worker_that_reported_no_facts_shows_dashes(people, client_for, lab):
    content = client_for(people.reader).get(worker_url(people, lab.offline)).content.decode()

    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd[^>]*>(.*?)</dd>", content, re.S))
    assert facts["Status"] == '<span class="status offline">Offline</span>'
    for label in ("Host name", "Operating system", "IP addresses", "CPUs", "Load (1, 5, 15 min)", "Memory"):
        assert facts[label] == "—", label
    assert facts["Free disk (state folder)"] == "—"
    assert facts["Agent version"] == "—"


def test_facts_are_escaped(people, client_for):
    worker, _ = register(people.account, facts={**FACTS, "hostname": "<script>alert(1)</script>"})

    content = client_for(people.reader).get(worker_url(people, worker)).content.decode()

    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_the_worker_blade_carries_its_id_for_live_last_seen_updates(people, client_for, lab):
    content = client_for(people.reader).get(worker_url(people, lab.online)).content.decode()

    essentials = content[content.index(f'data-worker-id="{lab.online.pk}"') :]
    assert 'class="relative last-seen"' in essentials


# ---- commands by role ------------------------------------------------------------------


@pytest.mark.parametrize(("role", "expected"), [("owner", True), ("operator", True), ("reader", False)])
def test_remove_is_offered_to_operators_and_owners_only(people, client_for, lab, role, expected):
    response = client_for(people.by_role[role]).get(worker_url(people, lab.online))

    assert ("Remove" in commands(response)) is expected
    assert (remove_url(people, lab.online) in response.content.decode()) is expected


@pytest.mark.parametrize("role", ROLES)
def test_the_workers_list_offers_only_refresh(people, client_for, lab, role):
    response = client_for(people.by_role[role]).get(workers_url(people, lab.group))

    assert commands(response) == ["Refresh"]


# ---- remove ----------------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator"])
def test_operators_and_owners_are_asked_to_confirm_a_removal(people, client_for, lab, role):
    before = state()

    response = client_for(people.by_role[role]).get(remove_url(people, lab.online))

    assert response.status_code == 200
    assert "shell/dialog_page.html" in templates(response)
    content = response.content.decode()
    assert (
        "Are you sure you want to remove worker <strong>web-01</strong> from hybrid worker group <strong>lab</strong>?"
        in content
    )
    assert f'<form method="post" action="{remove_url(people, lab.online)}"' in content
    assert state() == before


def test_the_remove_dialog_comes_as_an_htmx_partial(people, client_for, lab):
    response = client_for(people.operator).get(remove_url(people, lab.online), headers=HTMX)

    assert response.status_code == 200
    assert templates(response)[0] == "workers/partials/remove_dialog.html" and "base.html" not in templates(response)


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator"])
def test_operators_and_owners_remove_a_worker_and_its_credential_stops_working(people, client_for, lab, role):
    assert worker_for_credential(lab.online_credential) == lab.online

    response = client_for(people.by_role[role]).post(remove_url(people, lab.online), follow=True)

    assert response.redirect_chain == [(workers_url(people, lab.group), 302)]
    assert b"Removed worker web-01 from lab." in response.content
    assert listed(response) == ["web-02"]
    assert not HybridWorker.objects.filter(pk=lab.online.pk).exists()
    assert worker_for_credential(lab.online_credential) is None
    assert HybridWorkerGroup.objects.filter(pk=lab.group.pk).exists()
    event = AuditEvent.objects.get(action="worker.remove")
    assert (event.actor, event.source_ip, event.target_name, event.details) == (
        people.by_role[role],
        "127.0.0.1",
        "web-01",
        {"group": "lab"},
    )


def test_removing_from_the_htmx_dialog_goes_back_to_the_groups_workers(people, client_for, lab):
    response = client_for(people.operator).post(remove_url(people, lab.online), headers=HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == workers_url(people, lab.group)
    assert worker_for_credential(lab.online_credential) is None


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_reader_cannot_open_or_post_a_removal(people, client_for, lab, htmx):
    client = client_for(people.reader)
    headers = htmx_headers(htmx)
    before = state()

    opened = client.get(remove_url(people, lab.online), headers=headers)
    posted = client.post(remove_url(people, lab.online), headers=headers)

    assert (opened.status_code, posted.status_code) == (403, 403)
    assert b"Only an Operator or Owner of contoso-automation can do this." in posted.content
    assert state() == before
    assert worker_for_credential(lab.online_credential) == lab.online


def test_removing_a_worker_tells_open_pages_of_the_account(
    people, client_for, lab, monkeypatch, django_capture_on_commit_callbacks
):
    from automation import live

    pushed = []
    monkeypatch.setattr(live, "push_to_account", lambda account_id, payload: pushed.append((account_id, payload)))

    with django_capture_on_commit_callbacks(execute=True):
        client_for(people.operator).post(remove_url(people, lab.online))

    assert (
        people.account.pk,
        {"type": "worker-removed", "group_id": str(lab.group.pk), "worker_id": str(lab.online.pk)},
    ) in pushed


def test_removing_a_worker_twice_is_not_found(people, client_for, lab):
    client = client_for(people.operator)
    client.post(remove_url(people, lab.online))
    before = state()

    response = client.post(remove_url(people, lab.online))

    assert response.status_code == 404
    assert state() == before

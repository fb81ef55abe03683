"""The Hybrid worker groups blades: the list, adding a group, a group's properties and deleting it."""

import re
import shlex
import uuid
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from automation import tasks
from automation.models import AuditEvent, HybridWorker, HybridWorkerGroup, Notification
from automation.services.actor import Actor
from automation.services.groups import create_group, delete_group
from automation.services.keys import agent_service_url, reveal_keys
from automation.services.presence import offline_after
from automation.services.workers import deregister_worker, remove_worker
from automation.validators import NAME_RULE
from tests.support import builders
from tests.support.htmx import BOOSTED, HTMX, htmx_headers
from tests.support.state import state

pytestmark = pytest.mark.django_db

ROLES = ["owner", "operator", "reader"]


@pytest.fixture
def queued(monkeypatch):
    """The arguments of each deletion task queued (the task itself is not sent to a broker)."""
    calls = []
    # In the task's own attributes, so that undoing it leaves the task exactly as it was.
    task = tasks.delete_group._get_current_object()
    monkeypatch.setitem(vars(task), "delay", lambda *args: calls.append(args))
    return calls


def templates(response) -> list[str]:
    return [t.name for t in response.templates]


def commands(response) -> list[str]:
    """The labels of the blade's command bar."""
    return re.findall(r'<a class="cmd[^"]*"[^>]*>\s*<svg[^>]*>.*?</svg>([^<]+)</a>', response.content.decode())


def buttons(html: str) -> list[str]:
    """The labels of the buttons with a label (not the icon-only Close of the title bar)."""
    return re.findall(r"<button [^>]*>(?:<svg.*?</svg>)?([^<]+)</button>", html)


def pager(response) -> str:
    """What the pager says, e.g. "51-100 of 120" (the page writes an en dash)."""
    text = re.search(r'<div class="pager">\s*<span>([^<]+)</span>', response.content.decode()).group(1)
    return text.replace("\N{EN DASH}", "-")


def listed(response) -> list[str]:
    """The group names in the table, in order."""
    return re.findall(r'<tr data-group="([^"]+)"', response.content.decode())


def make_group(p, name="lab", account=None) -> HybridWorkerGroup:
    return builders.make_group(account or p.account, name)


def register(p, name="web-01", group="lab", account=None):
    facts = {"os": "Debian GNU/Linux 12", "ip_addresses": ["10.0.0.5"], "agent_version": "1.0.0"}
    return builders.make_worker(account or p.account, name, group, facts=facts)


def groups_url(p, **query) -> str:
    url = reverse("portal:groups", args=[p.account.pk])
    return f"{url}?{'&'.join(f'{k}={v}' for k, v in query.items())}" if query else url


def add_url(p) -> str:
    return reverse("portal:group_add", args=[p.account.pk])


def group_url(p, group) -> str:
    return reverse("portal:group", args=[p.account.pk, group.pk])


def delete_url(p, group) -> str:
    return reverse("portal:group_delete", args=[p.account.pk, group.pk])


def add_worker_url(p, group) -> str:
    return reverse("portal:group_add_worker", args=[p.account.pk, group.pk])


# ---- who may do what -------------------------------------------------------------------

# (route, method): status for owner, operator, reader, stranger
ANSWERS = {
    ("groups", "get"): (200, 200, 200, 404),
    ("group_add", "get"): (200, 200, 403, 404),
    ("group_add", "post"): (302, 302, 403, 404),
    ("group", "get"): (200, 200, 200, 404),
    ("group_delete", "get"): (200, 200, 403, 404),
    ("group_delete", "post"): (302, 302, 403, 404),
    ("group_add_worker", "get"): (200, 200, 403, 404),
    ("group_add_worker", "post"): (405, 405, 403, 404),
    # The posted body names no Run as choice: refused with the form again.
    ("group_run_as", "get"): (200, 200, 403, 404),
    ("group_run_as", "post"): (400, 400, 403, 404),
}


def route_url(p, route, group) -> str:
    if route in ("groups", "group_add"):
        return reverse(f"portal:{route}", args=[p.account.pk])
    return reverse(f"portal:{route}", args=[p.account.pk, group.pk])


@pytest.mark.parametrize(("route", "method"), list(ANSWERS))
@pytest.mark.parametrize("role", [*ROLES, "stranger"])
def test_each_role_gets_the_answer_its_role_allows(people, client_for, queued, route, method, role):
    group = make_group(people, "empty")
    before = state()

    client = client_for(people.by_role[role])
    url = route_url(people, route, group)
    response = client.get(url) if method == "get" else client.post(url, {"name": "new-group"})

    expected = ANSWERS[(route, method)][[*ROLES, "stranger"].index(role)]
    assert response.status_code == expected, response.content.decode()[:500]
    if expected in (403, 404):
        assert state() == before
        assert "errors/error.html" in templates(response)
        assert queued == []
    if expected == 404:
        assert b"contoso-automation" not in response.content
        assert b"There is nothing here, or you do not have access to it." in response.content


@pytest.mark.sqlite
@pytest.mark.parametrize(("route", "method"), list(ANSWERS))
def test_a_stranger_gets_404_for_every_group_url_and_nothing_changes(people, client_for, queued, route, method):
    group = make_group(people, "lab")
    register(people)
    empty = make_group(people, "empty")
    client = client_for(people.stranger)
    before = state()

    for target in (group, empty):
        url = route_url(people, route, target)
        for headers in ({}, HTMX):
            if method == "get":
                response = client.get(url, headers=headers)
            else:
                response = client.post(url, {"name": "x"}, headers=headers)
            assert response.status_code == 404
            assert b"contoso-automation" not in response.content

    assert state() == before
    assert queued == []


@pytest.mark.parametrize("route", ["group", "group_delete", "group_add_worker", "group_run_as"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_group_is_not_found_under_another_account(people, client_for, queued, route, method):
    """The stranger owns fabrikam; contoso's group is not found under fabrikam's URL."""
    group = make_group(people, "empty")
    before = state()
    url = reverse(f"portal:{route}", args=[people.other_account.pk, group.pk])

    client = client_for(people.stranger)
    response = client.get(url) if method == "get" else client.post(url)

    assert response.status_code == 404
    assert state() == before
    assert queued == []


def test_an_unknown_group_id_is_not_found(people, client_for):
    response = client_for(people.owner).get(reverse("portal:group", args=[people.account.pk, uuid.uuid4()]))

    assert response.status_code == 404


# ---- the list --------------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ROLES)
def test_every_member_sees_the_groups_with_their_worker_counts(people, client_for, role):
    make_group(people, "lab")
    register(people, "web-01")
    register(people, "web-02")
    HybridWorker.objects.filter(name="web-02").update(last_seen_at=timezone.now() - timedelta(hours=1))
    make_group(people, "empty")
    make_group(people, "elsewhere", account=people.other_account)

    response = client_for(people.by_role[role]).get(groups_url(people))

    assert response.status_code == 200
    assert "groups/index.html" in templates(response)
    assert listed(response) == ["empty", "lab"]
    rows = {g.name: (g.worker_count, g.online_count, g.last_seen is not None) for g in response.context["page"]}
    assert rows == {"empty": (0, 0, False), "lab": (2, 1, True)}
    assert pager(response) == "1-2 of 2"


@pytest.mark.sqlite
@pytest.mark.parametrize("how", ["portal", "agent"])
def test_an_emptied_group_keeps_the_last_seen_of_the_workers_it_had(people, client_for, how):
    """A group's Last seen is the latest of its workers' last seen, and removing a worker does not make the
    group forget it: an emptied group says when it last saw one, not "Never"."""
    make_group(people, "lab")
    make_group(people, "new")
    seen = timezone.now() - timedelta(minutes=1)
    older = register(people, "web-01")
    newer = register(people, "web-02")
    HybridWorker.objects.filter(pk=older.pk).update(last_seen_at=seen - timedelta(hours=1))
    HybridWorker.objects.filter(pk=newer.pk).update(last_seen_at=seen)
    for worker in (newer, older):  # the newest first: the older one must not overwrite it
        worker.refresh_from_db()
        if how == "portal":
            remove_worker(account=people.account, worker_id=worker.pk, actor=Actor(user=people.operator))
        else:
            deregister_worker(worker=worker)

    response = client_for(people.reader).get(groups_url(people))

    rows = {g.name: (g.worker_count, g.last_seen) for g in response.context["page"]}
    assert rows == {"lab": (0, seen), "new": (0, None)}
    row = re.search(r'<tr data-group="lab".*?</tr>', response.content.decode(), re.S).group(0)
    assert "last-seen" in row
    assert "Never" not in row
    # A worker registering again later is newer still.
    again = register(people, "web-03")
    assert {g.name: g.last_seen for g in client_for(people.reader).get(groups_url(people)).context["page"]}[
        "lab"
    ] == HybridWorker.objects.get(pk=again.pk).last_seen_at


@pytest.mark.sqlite
def test_the_groups_sort_by_last_seen_counting_removed_workers(people, client_for):
    make_group(people, "emptied")
    make_group(people, "never")
    make_group(people, "busy")
    gone = register(people, "web-01", group="emptied")
    HybridWorker.objects.filter(pk=gone.pk).update(last_seen_at=timezone.now() - timedelta(days=1))
    remove_worker(account=people.account, worker_id=gone.pk, actor=Actor(user=people.operator))
    register(people, "web-02", group="busy")

    response = client_for(people.reader).get(groups_url(people, sort="last_seen"))

    # Never seen first, then the oldest.
    assert listed(response) == ["never", "emptied", "busy"]


def test_an_account_without_groups_explains_how_to_get_one(people, client_for):
    response = client_for(people.reader).get(groups_url(people))

    assert listed(response) == []
    assert b"No hybrid worker groups yet." in response.content
    assert b"hybridworker register --group NAME" in response.content


def test_an_htmx_request_gets_just_the_table(people, client_for):
    make_group(people, "lab")

    response = client_for(people.reader).get(groups_url(people), headers=HTMX)

    assert response.status_code == 200
    assert templates(response)[0] == "groups/partials/table.html"
    assert "base.html" not in templates(response)
    assert listed(response) == ["lab"]


def test_a_boosted_htmx_request_gets_the_whole_page(people, client_for):
    response = client_for(people.reader).get(groups_url(people), headers=BOOSTED)

    assert "groups/index.html" in templates(response)


def test_the_table_refreshes_on_the_events_that_change_it(people, client_for):
    """portal.js refetches an element whose data-live-refresh names the pushed event's type."""
    group = make_group(people, "lab")
    register(people)

    content = client_for(people.reader).get(groups_url(people)).content.decode()

    events = re.search(r'id="groups-table" data-live-refresh="([^"]+)"', content).group(1).split()
    assert sorted(events) == sorted(
        ["group-created", "group-deleted", "worker-registered", "worker-removed", "worker-status"]
    )
    # workers-seen patches the group's "Last seen" in place: the row carries its id and a last-seen time.
    row = re.search(rf'<tr data-group="lab" data-group-id="{group.pk}">.*?</tr>', content, re.S).group(0)
    assert 'class="relative last-seen"' in row


@pytest.mark.parametrize(("q", "expected"), [("web", ["web-east", "web-west"]), ("WEST", ["web-west"]), ("db", ["db"])])
def test_the_list_filters_by_name(people, client_for, q, expected):
    for name in ("web-east", "web-west", "db"):
        make_group(people, name)

    response = client_for(people.reader).get(groups_url(people, q=q))

    assert listed(response) == expected
    assert f'name="q" value="{q}"' in response.content.decode()


def test_a_filter_that_matches_nothing_says_so(people, client_for):
    make_group(people, "lab")

    response = client_for(people.reader).get(groups_url(people, q="zzz"))

    assert listed(response) == []
    assert "No hybrid worker group matches “<bdi>zzz</bdi>”." in response.content.decode()


@pytest.fixture
def four_groups(people, settings):
    """Groups whose columns each sort them differently.

    alpha: 3 workers, none online, last seen 2 hours ago, created 2 days ago
    bravo: 1 worker online (seen 5 s ago), created 4 days ago
    charlie: no worker, never seen, created 1 day ago
    delta: 2 workers online (seen 10 s and 20 s ago), created 3 days ago
    """
    settings.HEARTBEAT_INTERVAL_SECONDS = 15  # offline after 45 s
    now = timezone.now()
    layout = {
        "alpha": ([7200, 10800, 14400], 2),
        "bravo": ([5], 4),
        "charlie": ([], 1),
        "delta": ([10, 20], 3),
    }
    for name, (seen_ago, created_days_ago) in layout.items():
        group = make_group(people, name)
        for i, seconds in enumerate(seen_ago):
            worker = register(people, f"{name}-{i}", group=name)
            HybridWorker.objects.filter(pk=worker.pk).update(last_seen_at=now - timedelta(seconds=seconds))
        HybridWorkerGroup.objects.filter(pk=group.pk).update(created_at=now - timedelta(days=created_days_ago))


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["alpha", "bravo", "charlie", "delta"]),
        ("-name", ["delta", "charlie", "bravo", "alpha"]),
        ("workers", ["charlie", "bravo", "delta", "alpha"]),
        ("-workers", ["alpha", "delta", "bravo", "charlie"]),
        ("online", ["alpha", "charlie", "bravo", "delta"]),  # ties by name
        ("-online", ["delta", "bravo", "alpha", "charlie"]),  # ties by name
        ("last_seen", ["charlie", "alpha", "delta", "bravo"]),  # never seen first
        ("-last_seen", ["bravo", "delta", "alpha", "charlie"]),  # never seen last
        ("created", ["bravo", "delta", "alpha", "charlie"]),
        ("-created", ["charlie", "alpha", "delta", "bravo"]),
        ("not-a-column", ["alpha", "bravo", "charlie", "delta"]),
    ],
)
def test_the_list_sorts_by_each_column(people, client_for, four_groups, sort, expected):
    response = client_for(people.reader).get(groups_url(people, sort=sort))

    assert response.status_code == 200
    assert listed(response) == expected


@pytest.mark.parametrize(
    ("sort", "label", "link", "direction"),
    [("name", "Name ↑", "-name", "ascending"), ("-workers", "Workers ↓", "workers", "descending")],
)
def test_the_sorted_column_says_so_and_links_to_the_other_direction(
    people, client_for, four_groups, sort, label, link, direction
):
    content = client_for(people.reader).get(groups_url(people, sort=sort)).content.decode()

    header = (
        f'<a href="?q=&amp;sort={link}" hx-get="?q=&amp;sort={link}" hx-target="#groups-table" '
        f'hx-push-url="true" aria-sort="{direction}">{label}</a>'
    )
    assert header in content
    assert content.count("aria-sort=") == 1


def test_sorting_keeps_the_filter(people, client_for, four_groups):
    response = client_for(people.reader).get(groups_url(people, q="a", sort="-workers"))

    assert listed(response) == ["alpha", "delta", "bravo", "charlie"]
    assert '<input type="hidden" name="sort" value="-workers">' in response.content.decode()
    assert 'href="?q=a&amp;sort=online"' in response.content.decode()


@pytest.fixture
def many_groups(people):
    HybridWorkerGroup.objects.bulk_create(
        [HybridWorkerGroup(account=people.account, name=f"g{i:03}") for i in range(120)]
    )


@pytest.mark.sqlite
def test_the_list_shows_50_groups_a_page(people, client_for, many_groups):
    client = client_for(people.reader)

    first = client.get(groups_url(people))
    second = client.get(groups_url(people, page=2))
    third = client.get(groups_url(people, page=3))

    assert listed(first) == [f"g{i:03}" for i in range(50)]
    assert listed(second) == [f"g{i:03}" for i in range(50, 100)]
    assert listed(third) == [f"g{i:03}" for i in range(100, 120)]
    assert pager(second) == "51-100 of 120"
    assert pager(third) == "101-120 of 120"
    assert 'href="?q=&amp;sort=name&amp;page=1"' in second.content.decode()
    assert 'href="?q=&amp;sort=name&amp;page=3"' in second.content.decode()
    assert "page=4" not in third.content.decode()


def test_pages_follow_the_sort_and_the_filter(people, client_for, many_groups):
    client = client_for(people.reader)

    descending = client.get(groups_url(people, q="G", sort="-name", page=2))
    filtered = client.get(groups_url(people, q="g1", sort="-name", page=2))

    assert listed(descending) == [f"g{i:03}" for i in range(69, 19, -1)]
    assert 'href="?q=G&amp;sort=-name&amp;page=3"' in descending.content.decode()
    # g1 matches g100 to g119: one page, so page 2 shows the last page there is.
    assert listed(filtered) == [f"g{i:03}" for i in range(119, 99, -1)]
    assert pager(filtered) == "1-20 of 20"


@pytest.mark.parametrize(("page", "first"), [("999", "g100"), ("abc", "g000"), ("0", "g100")])
def test_an_out_of_range_or_bad_page_number_shows_a_page_anyway(people, client_for, many_groups, page, first):
    response = client_for(people.reader).get(groups_url(people, page=page))

    assert response.status_code == 200
    assert listed(response)[0] == first


def test_the_list_costs_the_same_queries_for_5_or_500_groups(people, client_for):
    now = timezone.now()
    client = client_for(people.reader)

    def add_groups(start, stop):
        groups = HybridWorkerGroup.objects.bulk_create(
            [HybridWorkerGroup(account=people.account, name=f"group-{i:03}") for i in range(start, stop)]
        )
        # Every other group has workers, some online and some not.
        HybridWorker.objects.bulk_create(
            [
                HybridWorker(
                    account=people.account,
                    group=group,
                    name=f"worker-{n}",
                    machine_id=f"machine-{group.name}-{n}",
                    credential_id=f"cred-{group.name}-{n}",
                    credential_hash="!",
                    last_seen_at=now - timedelta(seconds=30 * n),
                )
                for group in groups[::2]
                for n in range(3)
            ]
        )

    def measure(expected_rows):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(groups_url(people))
        assert response.status_code == 200
        assert len(listed(response)) == expected_rows
        return [q["sql"] for q in queries.captured_queries]

    add_groups(0, 5)
    client.get(groups_url(people))  # warm up: the first request of a session may load more
    with_5 = measure(5)
    add_groups(5, 500)
    with_500 = measure(50)

    assert len(with_500) == len(with_5), "\n".join(with_500)


# ---- commands by role ------------------------------------------------------------------


@pytest.mark.parametrize(("role", "expected"), [("owner", True), ("operator", True), ("reader", False)])
def test_add_group_is_offered_to_operators_and_owners_only(people, client_for, role, expected):
    response = client_for(people.by_role[role]).get(groups_url(people))

    assert ("Add hybrid worker group" in commands(response)) is expected
    assert (add_url(people) in response.content.decode()) is expected


@pytest.mark.parametrize(("role", "expected"), [("owner", True), ("operator", True), ("reader", False)])
def test_delete_is_offered_to_operators_and_owners_only(people, client_for, role, expected):
    group = make_group(people)

    response = client_for(people.by_role[role]).get(group_url(people, group))

    assert ("Delete" in commands(response)) is expected
    assert (delete_url(people, group) in response.content.decode()) is expected


# ---- add a worker ----------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize(("role", "expected"), [("owner", True), ("operator", True), ("reader", False)])
def test_add_a_worker_is_offered_to_operators_and_owners_on_the_group_blade(people, client_for, role, expected):
    group = make_group(people)

    response = client_for(people.by_role[role]).get(group_url(people, group))

    assert ("Add a worker" in commands(response)) is expected
    assert (add_worker_url(people, group) in response.content.decode()) is expected


def copy_lines(html: str) -> dict[str, str]:
    """Each copyable line of the page by its element id, as the Copy button copies it (unescaped)."""
    found = dict(re.findall(r'<code id="([\w-]+)">([^<]*)</code>', html))
    for target in found:
        assert f'data-copy="#{target}"' in html, f"no Copy button for {target}"
    return {target: unescape(text) for target, text in found.items()}


@pytest.mark.sqlite
@pytest.mark.parametrize(("headers", "template"), [({}, "shell/dialog_page.html"), (HTMX, None)])
def test_add_a_worker_shows_the_install_line_and_the_register_line_to_copy(
    people, client_for, settings, headers, template
):
    settings.PORTAL_BASE_URL = "https://portal.example"
    group = make_group(people, "datacenter east")

    response = client_for(people.operator).get(add_worker_url(people, group), headers=headers)

    assert response.status_code == 200
    assert ("groups/partials/add_worker_dialog.html" in templates(response)) is True
    assert (template in templates(response)) if template else "base.html" not in templates(response)
    lines = copy_lines(response.content.decode())
    assert lines["install-line"] == "curl -fsSL https://portal.example/agentsvc/install.sh | sh"
    # The group name is quoted for the shell; the key is read from standard input, never on the line.
    assert shlex.split(lines["register-line"]) == [
        "hybridworker",
        "register",
        "--group",
        "datacenter east",
        "--endpoint",
        f"https://portal.example/agentsvc/accounts/{people.account.pk}",
        "--token",
        "-",
    ]
    text = response.content.decode()
    assert "--state-dir DIR" in text
    assert "/var/lib/hybridworker" in text
    for key in reveal_keys(account=people.account, actor=Actor(user=people.owner)).values():
        assert key not in text


@pytest.mark.parametrize("name", ["two  spaces", "-lab", "lab.1_a"])
def test_the_register_line_keeps_any_group_name_one_shell_word(people, client_for, name):
    group = make_group(people, name)

    lines = copy_lines(client_for(people.owner).get(add_worker_url(people, group)).content.decode())

    assert shlex.split(lines["register-line"])[2:4] == ["--group", name]


@pytest.mark.parametrize(
    ("base_url", "warned"),
    [
        ("http://127.0.0.1:8000", "is this computer"),
        ("http://localhost:8000", "is this computer"),
        ("http://[::1]:8000", "is this computer"),
        ("http://portal.example", "plain HTTP"),
        ("https://portal.example", None),
    ],
)
def test_add_a_worker_warns_when_other_machines_cannot_reach_the_portal_or_only_over_plain_http(
    people, client_for, settings, base_url, warned
):
    settings.PORTAL_BASE_URL = base_url
    group = make_group(people, "lab")

    page = client_for(people.operator).get(add_worker_url(people, group)).content.decode()

    assert ('id="install-warning"' in page) is (warned is not None)
    if warned:
        assert warned in page and "Behind TLS" in page


# ---- add -------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_an_operator_opens_the_add_dialog_as_a_page(people, client_for):
    response = client_for(people.operator).get(add_url(people))

    assert response.status_code == 200
    assert "shell/dialog_page.html" in templates(response)
    assert "base.html" in templates(response)
    assert f'action="{add_url(people)}"' in response.content.decode()


def test_the_add_dialog_comes_as_an_htmx_partial(people, client_for):
    response = client_for(people.owner).get(add_url(people), headers=HTMX)

    assert response.status_code == 200
    assert templates(response)[0] == "groups/partials/add_dialog.html"
    assert "base.html" not in templates(response)
    assert b"Add hybrid worker group" in response.content


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator"])
def test_operators_and_owners_add_a_group(people, client_for, role):
    response = client_for(people.by_role[role]).post(add_url(people), {"name": "lab"}, follow=True)

    group = HybridWorkerGroup.objects.get(account=people.account, name="lab")
    assert response.redirect_chain == [(group_url(people, group), 302)]
    assert b"Created hybrid worker group lab." in response.content
    assert group.created_by == people.by_role[role].username
    event = AuditEvent.objects.get(action="group.create")
    assert (event.actor, event.source_ip, event.target_id) == (people.by_role[role], "127.0.0.1", str(group.pk))


def test_adding_from_the_htmx_dialog_goes_to_the_new_group(people, client_for):
    response = client_for(people.operator).post(add_url(people), {"name": "lab"}, headers=HTMX)

    group = HybridWorkerGroup.objects.get(account=people.account, name="lab")
    assert response.status_code == 200
    assert response["HX-Redirect"] == group_url(people, group)


@pytest.mark.parametrize(
    "name",
    [" lab", "lab ", "..", "a/b", "lab\n", "x" * 129, "gruppe-ü", "<script>"],
    ids=["leading-space", "trailing-space", "dots", "slash", "newline", "129-chars", "non-ascii", "markup"],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_bad_name_shows_the_rule_with_a_400_and_writes_nothing(people, client_for, name, htmx):
    before = state()

    response = client_for(people.operator).post(add_url(people), {"name": name}, headers=htmx_headers(htmx))

    assert response.status_code == 400
    assert escape(NAME_RULE) in response.content.decode()
    expected = "groups/partials/add_dialog.html" if htmx else "shell/dialog_page.html"
    assert templates(response)[0] == expected
    assert state() == before


def test_an_empty_name_is_required(people, client_for):
    before = state()

    response = client_for(people.operator).post(add_url(people), {"name": ""})

    assert response.status_code == 400
    assert b"This field is required." in response.content
    assert state() == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_duplicate_name_is_a_form_error_with_a_400(people, client_for, htmx):
    make_group(people, "lab")
    before = state()

    response = client_for(people.operator).post(add_url(people), {"name": "lab"}, headers=htmx_headers(htmx))

    assert response.status_code == 400
    assert "A hybrid worker group named &#x27;lab&#x27; already exists in contoso-automation." in (
        response.content.decode()
    )
    assert "HX-Redirect" not in response
    assert state() == before


def test_the_same_name_may_be_used_in_another_account(people, client_for):
    make_group(people, "lab", account=people.other_account)

    response = client_for(people.operator).post(add_url(people), {"name": "lab"})

    assert response.status_code == 302
    assert HybridWorkerGroup.objects.filter(name="lab").count() == 2


# ---- properties ------------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ROLES)
def test_every_member_sees_a_groups_properties(people, client_for, role):
    group = make_group(people, "lab")
    register(people, "web-01")
    register(people, "web-02")
    HybridWorker.objects.filter(name="web-02").update(last_seen_at=timezone.now() - offline_after() * 2)

    response = client_for(people.by_role[role]).get(group_url(people, group))

    assert response.status_code == 200
    assert "groups/detail.html" in templates(response)
    content = response.content.decode()
    assert '<div class="value">2</div>' in content
    assert "1 online" in content
    assert str(group.pk) in content
    assert reverse("portal:group_workers", args=[people.account.pk, group.pk]) in content
    assert "This group is being deleted." not in content


def test_a_group_created_by_a_worker_says_so(people, client_for):
    register(people, "web-01", group="auto")
    group = HybridWorkerGroup.objects.get(name="auto")

    response = client_for(people.reader).get(group_url(people, group))

    assert b"by worker web-01" in response.content


# ---- delete ----------------------------------------------------------------------------


@pytest.mark.sqlite
def test_the_delete_dialog_of_a_group_with_workers_names_them_and_offers_only_close(people, client_for):
    group = make_group(people, "lab")
    register(people, "web-02")
    register(people, "web-01")
    register(people, "elsewhere", group="other")
    before = state()

    response = client_for(people.operator).get(delete_url(people, group))

    assert response.status_code == 200
    assert "shell/dialog_page.html" in templates(response)
    content = response.content.decode()
    dialog = content[content.index('<div class="dialog"') :]
    assert "cannot be deleted while it has workers" in dialog
    assert re.findall(r'<li><a href="[^"]+">([^<]+)</a></li>', dialog) == ["web-01", "web-02"]
    assert "elsewhere" not in dialog
    assert f"hybridworker remove --endpoint {agent_service_url(people.account)} --token -</code>" in dialog
    assert "<form" not in dialog
    assert buttons(dialog) == ["Copy", "Close"]
    assert state() == before


@pytest.mark.sqlite
def test_the_delete_dialog_of_a_group_with_workers_points_at_remove_on_each_workers_blade(people, client_for):
    group = make_group(people, "lab")
    worker = register(people, "web-01")

    response = client_for(people.operator).get(delete_url(people, group), headers=HTMX)

    dialog = response.content.decode()
    worker_url = reverse("portal:worker", args=[people.account.pk, worker.pk])
    assert f'<li><a href="{worker_url}">web-01</a></li>' in dialog
    assert "<strong>Remove</strong> on its blade" in dialog


@pytest.mark.sqlite
def test_the_delete_dialog_of_an_empty_group_asks_yes_or_no(people, client_for):
    group = make_group(people, "lab")

    response = client_for(people.owner).get(delete_url(people, group))

    content = response.content.decode()
    dialog = content[content.index('<div class="dialog"') :]
    assert "Are you sure you want to delete hybrid worker group <strong>“lab”</strong>?" in dialog
    assert f'<form method="post" action="{delete_url(people, group)}"' in dialog
    assert buttons(dialog) == ["Yes", "No"]
    assert "hybridworker remove" not in dialog


@pytest.mark.parametrize("with_workers", [False, True], ids=["empty", "with-workers"])
def test_the_delete_dialog_comes_as_an_htmx_partial(people, client_for, with_workers):
    group = make_group(people, "lab")
    if with_workers:
        register(people)

    response = client_for(people.operator).get(delete_url(people, group), headers=HTMX)

    assert response.status_code == 200
    assert templates(response)[0] == "groups/partials/delete_dialog.html" and "base.html" not in templates(response)
    assert (b"<form" in response.content) is not with_workers


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator"])
def test_deleting_a_group_with_workers_shows_the_error_and_keeps_the_group(people, client_for, queued, role):
    group = make_group(people, "lab")
    register(people, "web-01")
    register(people, "web-02")
    before = state()

    response = client_for(people.by_role[role]).post(delete_url(people, group), follow=True)

    assert response.redirect_chain == [(group_url(people, group), 302)]
    assert b"Hybrid worker group &#x27;lab&#x27; still has 2 worker(s): web-01, web-02." in response.content
    assert state() == before
    assert HybridWorkerGroup.objects.get(pk=group.pk).deleting_since is None
    assert queued == []


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_deleting_an_empty_group_queues_the_task_and_tracks_it_in_a_notification(
    people, client_for, django_capture_on_commit_callbacks, queued, role
):
    group = make_group(people, "lab")
    user = people.by_role[role]

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post(delete_url(people, group))

    assert response.status_code == 302
    assert response.url == groups_url(people)
    assert HybridWorkerGroup.objects.get(pk=group.pk).deleting_since is not None
    notification = Notification.objects.get(account=people.account, title="Deleting hybrid worker group")
    assert (notification.state, notification.message) == ("in_progress", 'Deleting hybrid worker group "lab"…')
    assert queued == [(str(group.pk), str(notification.pk), user.pk, "127.0.0.1")]
    assert AuditEvent.objects.filter(action="group.delete_requested", actor=user).count() == 1

    # What the Celery worker then runs:
    group_id, notification_id, _, ip = queued[0]
    assert delete_group(group_id=group_id, notification_id=notification_id, actor=Actor(user=user, ip=ip))

    assert not HybridWorkerGroup.objects.filter(pk=group.pk).exists()
    notification.refresh_from_db()
    assert (notification.state, notification.level) == ("succeeded", "success")
    assert notification.title == "Deleted hybrid worker group lab"
    event = AuditEvent.objects.get(action="group.delete")
    assert (event.actor, event.source_ip, event.target_name) == (user, "127.0.0.1", "lab")


def test_the_group_shows_it_is_being_deleted_until_the_task_runs(people, client_for, queued):
    group = make_group(people, "lab")
    client = client_for(people.operator)

    response = client.post(delete_url(people, group), follow=True)

    assert response.redirect_chain == [(groups_url(people), 302)]
    assert b"Deleting hybrid worker group lab: follow it under Notifications." in response.content
    assert b'lab</a> <span class="pill">Deleting\xe2\x80\xa6</span>' in response.content
    assert b"This group is being deleted." in client.get(group_url(people, group)).content


def test_deleting_from_the_htmx_dialog_goes_back_to_the_list(people, client_for, queued):
    group = make_group(people, "lab")

    response = client_for(people.owner).post(delete_url(people, group), headers=HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == groups_url(people)


def test_deleting_a_group_twice_says_it_is_already_being_deleted(
    people, client_for, django_capture_on_commit_callbacks, queued
):
    group = make_group(people, "lab")
    client = client_for(people.operator)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(delete_url(people, group))
    before = state()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(delete_url(people, group), follow=True)

    assert response.redirect_chain == [(group_url(people, group), 302)]
    assert b"Hybrid worker group &#x27;lab&#x27; is already being deleted." in response.content
    assert state() == before
    assert len(queued) == 1


def test_a_worker_registering_before_the_task_runs_keeps_the_group(people, client_for, queued):
    group = make_group(people, "lab")
    client_for(people.operator).post(delete_url(people, group))
    notification = Notification.objects.get(title="Deleting hybrid worker group")
    # A registration that raced the request (the group was empty when it was checked).
    HybridWorker.objects.create(
        account=people.account, group=group, name="late", machine_id="machine-late", credential_id="late"
    )

    assert not delete_group(group_id=group.pk, notification_id=notification.pk, actor=Actor.for_system())

    assert HybridWorkerGroup.objects.get(pk=group.pk).deleting_since is None
    notification.refresh_from_db()
    assert (notification.state, notification.message) == ("failed", "Failed: a worker registered into it meanwhile.")


def test_the_group_blade_shows_jobs_of_the_last_24_hours_once_there_are_some(people, client_for):
    from automation.models import Job
    from automation.services.jobs import start_job
    from automation.services.runbooks import create_runbook, publish_runbook

    system = Actor.for_system()
    group = create_group(account=people.account, name="east", actor=system)
    url = reverse("portal:group", args=[people.account.pk, group.pk])
    assert "Jobs (last 24 h)" not in client_for(people.reader).get(url).content.decode()

    book = create_runbook(account=people.account, name="rb", runbook_type="bash", content="exit 0", actor=system)
    publish_runbook(runbook=book, actor=system)
    jobs = [start_job(account=people.account, runbook_name="rb", group_name="east", actor=system) for _ in range(3)]
    Job.objects.filter(pk=jobs[0].pk).update(status="Failed")
    Job.objects.filter(pk=jobs[1].pk).update(created_at=timezone.now() - timedelta(days=2))

    response = client_for(people.reader).get(url)
    assert response.context["jobs"] == {"total": 2, "failed": 1, "running": 0}
    assert "Jobs (last 24 h)" in response.content.decode()


# ---- Hybrid worker group settings (Run as) -----------------------------------------------


def run_as_url(p, group) -> str:
    return reverse("portal:group_run_as", args=[p.account.pk, group.pk])


@pytest.fixture
def deploy(people):
    from automation.services.credentials import create_credential

    system = Actor.for_system()
    create_credential(account=people.account, name="Deploy", username="deploy", password="Deploy-Pa55", actor=system)
    create_credential(account=people.account, name="Backup", username="backup", password="Backup-Pa55", actor=system)
    create_credential(account=people.other_account, name="Theirs", username="t", password="Theirs-Pa55", actor=system)


def run_as_shown(response) -> str:
    shown = re.search(r'<dd id="group-run-as">(.*?)</dd>', response.content.decode(), re.S).group(1)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", shown))).strip()


@pytest.mark.parametrize("role", ROLES)
def test_every_member_sees_the_groups_run_as_and_only_operators_may_change_it(people, client_for, deploy, role):
    group = make_group(people, "lab")
    response = client_for(people.by_role[role]).get(group_url(people, group))
    content = response.content.decode()
    assert "Hybrid worker group settings" in content
    assert run_as_shown(response) == "Default"
    assert (run_as_url(people, group) in content) == (role != "reader")


@pytest.mark.parametrize("htmx", [False, True])
def test_an_operator_sets_run_as_to_a_credential_and_the_blade_says_who_jobs_run_as(people, client_for, deploy, htmx):
    group = make_group(people, "lab")
    client = client_for(people.operator)
    dialog = client.get(run_as_url(people, group), headers=HTMX if htmx else {})
    assert dialog.status_code == 200
    html = dialog.content.decode()
    assert "Hybrid worker group settings" in html and buttons(html)[-2:] == ["Save", "Cancel"]
    # The account's credentials to choose from, not another account's.
    assert re.findall(r'<option value="([^"]*)"', html) == ["default", "custom", "", "Backup", "Deploy"]

    response = client.post(
        run_as_url(people, group), {"run_as": "custom", "run_as_credential": "Deploy"}, headers=HTMX if htmx else {}
    )
    assert response.status_code == (200 if htmx else 302)
    assert HybridWorkerGroup.objects.get(pk=group.pk).run_as_credential.name == "Deploy"
    page = client.get(group_url(people, group))
    assert run_as_shown(page) == "Custom: credential Deploy (user deploy)"
    assert "--allow-run-as deploy" in re.sub(r"<[^>]+>", "", page.content.decode())
    assert "Deploy-Pa55" not in page.content.decode()
    assert "Group lab runs its jobs as credential Deploy." in unescape(page.content.decode())
    assert AuditEvent.objects.filter(action="group.run_as", actor=people.operator).count() == 1

    again = client.get(run_as_url(people, group)).content.decode()
    assert re.search(r'<option value="custom" selected>', again)
    assert re.search(r'<option value="Deploy" selected>', again)
    client.post(run_as_url(people, group), {"run_as": "default", "run_as_credential": "Deploy"})
    assert HybridWorkerGroup.objects.get(pk=group.pk).run_as_credential is None
    assert run_as_shown(client.get(group_url(people, group))) == "Default"


@pytest.mark.parametrize(
    ("posted", "field_error"),
    [
        ({"run_as": "custom"}, "Choose the credential whose user the group&#x27;s jobs run as."),
        ({"run_as": "custom", "run_as_credential": "Theirs"}, "Select a valid choice."),
        ({"run_as": "custom", "run_as_credential": "Nope"}, "Select a valid choice."),
        ({"run_as": "root"}, "Select a valid choice."),
        ({}, "This field is required."),
    ],
)
def test_a_bad_run_as_shows_the_form_again_with_a_400_and_writes_nothing(
    people, client_for, deploy, posted, field_error
):
    group = make_group(people, "lab")
    client = client_for(people.owner)
    before = state()
    response = client.post(run_as_url(people, group), posted, headers=HTMX)
    assert response.status_code == 400
    assert field_error in response.content.decode()
    assert state() == before


def test_a_credential_deleted_while_the_dialog_was_open_is_a_form_error(people, client_for, deploy):
    from automation.models import Credential

    group = make_group(people, "lab")
    client = client_for(people.owner)
    # The form offered it; the service no longer finds it.
    response = client.get(run_as_url(people, group))
    Credential.objects.filter(name="Deploy").delete()
    before = state()
    response = client.post(run_as_url(people, group), {"run_as": "custom", "run_as_credential": "Deploy"})
    assert response.status_code == 400
    assert state() == before


def test_the_credential_a_group_runs_as_cannot_be_deleted_from_its_blade(people, client_for, deploy):
    from automation.models import Credential
    from automation.services.groups import set_group_run_as

    group = make_group(people, "lab")
    set_group_run_as(account=people.account, group_name="lab", credential_name="Deploy", actor=Actor.for_system())
    credential = Credential.objects.get(account=people.account, name="Deploy")
    url = reverse("portal:credential_delete", args=[people.account.pk, credential.pk])
    client = client_for(people.owner)
    shown = unescape(client.get(url, headers=HTMX).content.decode())
    assert "it is the Run as credential of hybrid worker group(s) lab" in shown
    before = state()
    assert client.post(url, headers=HTMX).status_code == 400
    assert state() == before
    assert HybridWorkerGroup.objects.get(pk=group.pk).run_as_credential_id == credential.pk

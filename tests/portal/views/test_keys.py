"""The Keys blade: the agent service URL for every member, the access keys for Owners only and only on Show."""

import html
import re
import uuid

import pytest
from django.urls import reverse

from automation.models import AuditEvent, Membership
from automation.services.actor import Actor
from automation.services.groups import create_group
from automation.services.keys import account_for_key, agent_service_url, reveal_keys
from automation.services.workers import register_worker
from portal.urls import portal_patterns
from tests.support.htmx import HTMX, htmx_headers
from tests.support.state import state

pytestmark = pytest.mark.django_db

ROLES = ["owner", "operator", "reader"]


def templates(response) -> list[str]:
    return [t.name for t in response.templates]


def commands(response) -> list[str]:
    """The labels of the blade's command bar."""
    return re.findall(r'<a class="cmd[^"]*"[^>]*>\s*<svg[^>]*>.*?</svg>([^<]+)</a>', response.content.decode())


def keys_url(p) -> str:
    return reverse("portal:keys", args=[p.account.pk])


def reveal_url(p) -> str:
    return reverse("portal:keys_reveal", args=[p.account.pk])


def regenerate_url(p, slot="primary") -> str:
    return reverse("portal:keys_regenerate", args=[p.account.pk, slot])


def plain_keys(account) -> dict[str, str]:
    """Both keys in the clear, read the way a support script would (this reveal is audited as the system)."""
    return reveal_keys(account=account, actor=Actor.for_system())


def assert_no_key_in(response, keys: dict[str, str]) -> None:
    body = response.content.decode()
    for slot, value in keys.items():
        assert value not in body, f"the {slot} key is in {response.request['PATH_INFO']}"


def register_line(content: str) -> str:
    """The command an Owner copies to register a worker, as the browser shows it."""
    (line,) = re.findall(r'<code id="register-line">(.*?)</code>', content)
    return html.unescape(line)


# The README's --state-dir guidance, wherever the portal shows a `hybridworker register` line.
STATE_DIR_HINT = (
    "Each agent keeps its registration and credential in a state folder: <code>$XDG_STATE_HOME/hybridworker</code>, "
    "else <code>~/.local/state/hybridworker</code>, or <code>/var/lib/hybridworker</code> as root. To keep it "
    "elsewhere, or to run several agents on one machine, add <code>--state-dir DIR</code> to this command and to "
    "every later <code>hybridworker</code> command of that agent."
)


# ---- the blade -------------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ROLES)
def test_every_member_opens_the_keys_blade_and_sees_the_url(people, client_for, role):
    response = client_for(people.by_role[role]).get(keys_url(people))

    assert response.status_code == 200
    assert "keys/index.html" in templates(response)
    assert agent_service_url(people.account) in response.content.decode()
    assert response.context["blade"] == "keys"


def test_an_owner_sees_masked_keys_with_show_buttons_and_no_key(people, client_for):
    keys = plain_keys(people.account)

    response = client_for(people.owner).get(keys_url(people))

    content = response.content.decode()
    assert content.count(f'<form method="post" action="{reveal_url(people)}" hx-post="{reveal_url(people)}"') == 2
    assert f'hx-get="{reveal_url(people)}"' not in content
    assert content.count('name="csrfmiddlewaretoken"') >= 2
    assert content.count('class="masked"') == 2
    assert (
        register_line(content)
        == f"hybridworker register --group <group> --endpoint {agent_service_url(people.account)} --token -"
    )
    assert_no_key_in(response, keys)


@pytest.mark.parametrize(("role", "expected"), [("owner", True), ("operator", True), ("reader", False)])
def test_the_keys_blade_points_those_who_add_workers_to_add_a_worker(people, client_for, role, expected):
    response = client_for(people.by_role[role]).get(keys_url(people))

    content = response.content.decode()
    pointer = f'<a href="{reverse("portal:groups", args=[people.account.pk])}">Hybrid worker groups</a>'
    assert (pointer in content and "<strong>Add a worker</strong>" in content) is expected


@pytest.mark.parametrize("role", ["operator", "reader"])
def test_operators_and_readers_are_told_only_owners_view_keys(people, client_for, role):
    keys = plain_keys(people.account)

    response = client_for(people.by_role[role]).get(keys_url(people))

    content = response.content.decode()
    assert "Only owners can view keys." in content
    assert reveal_url(people) not in content
    assert 'class="masked"' not in content
    assert_no_key_in(response, keys)


def test_an_owner_sees_both_regenerate_commands(people, client_for):
    response = client_for(people.owner).get(keys_url(people))

    assert commands(response) == ["Regenerate primary key", "Regenerate secondary key", "Refresh"]
    assert regenerate_url(people, "primary") in response.content.decode()
    assert regenerate_url(people, "secondary") in response.content.decode()


@pytest.mark.parametrize("role", ["operator", "reader"])
def test_operators_and_readers_see_no_regenerate_command(people, client_for, role):
    response = client_for(people.by_role[role]).get(keys_url(people))

    assert commands(response) == ["Refresh"]
    assert regenerate_url(people, "primary") not in response.content.decode()
    assert regenerate_url(people, "secondary") not in response.content.decode()


# ---- Show ------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_an_owner_clicks_show_and_gets_both_keys_in_a_partial_that_is_not_cached(people, client_for):
    keys = plain_keys(people.account)

    response = client_for(people.owner).post(reveal_url(people), headers=HTMX)

    assert response.status_code == 200
    assert templates(response)[0] == "keys/partials/values.html" and "keys/index.html" not in templates(response)
    content = response.content.decode()
    assert f'<code id="key-primary">{keys["primary"]}</code>' in content
    assert f'<code id="key-secondary">{keys["secondary"]}</code>' in content
    assert (
        register_line(content)
        == f"hybridworker register --group <group> --endpoint {agent_service_url(people.account)} --token -"
    )
    assert response["Cache-Control"] == "no-store"


def test_each_show_is_audited_with_who_and_where_but_not_the_keys(people, client_for):
    keys = plain_keys(people.account)
    AuditEvent.objects.all().delete()
    client = client_for(people.owner)

    client.post(reveal_url(people), headers=HTMX)
    client.post(reveal_url(people), headers=HTMX)

    events = list(AuditEvent.objects.filter(action="keys.reveal"))
    assert len(events) == 2
    for event in events:
        assert (event.account, event.actor, event.actor_name) == (people.account, people.owner, "olivia")
        assert (event.target_type, event.target_id, event.source_ip) == (
            "automationaccount",
            str(people.account.pk),
            "127.0.0.1",
        )
        stored = repr(AuditEvent.objects.filter(pk=event.pk).values().get())
        assert keys["primary"] not in stored
        assert keys["secondary"] not in stored


def test_the_activity_log_shows_the_reveal_without_the_keys(people, client_for):
    keys = plain_keys(people.account)
    client = client_for(people.owner)
    client.post(reveal_url(people), headers=HTMX)

    response = client.get(reverse("portal:activity", args=[people.account.pk]))

    assert response.status_code == 200
    assert "keys.reveal" in response.content.decode()
    assert_no_key_in(response, keys)


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["operator", "reader"])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_operators_and_readers_cannot_show_the_keys_and_nothing_is_audited(people, client_for, role, htmx):
    keys = plain_keys(people.account)
    before = state()

    response = client_for(people.by_role[role]).post(reveal_url(people), headers=htmx_headers(htmx))

    assert response.status_code == 403
    assert b"Only an Owner of contoso-automation can do this." in response.content
    assert_no_key_in(response, keys)
    assert state() == before


# ---- Show is a POST with CSRF: a link or an <img> elsewhere cannot reveal or fill the Activity log ----


def csrf_client(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_token_of(client, p) -> str:
    """The form's token, as the browser gets it from the Keys blade."""
    page = client.get(keys_url(p)).content.decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


@pytest.mark.sqlite
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_get_of_the_reveal_url_shows_no_key_and_audits_nothing(people, client_for, htmx):
    keys = plain_keys(people.account)
    before = state()

    response = client_for(people.owner).get(reveal_url(people), headers=htmx_headers(htmx))

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert_no_key_in(response, keys)
    assert state() == before


@pytest.mark.sqlite
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_reveal_without_the_csrf_token_is_refused_and_audits_nothing(people, htmx):
    keys = plain_keys(people.account)
    client = csrf_client(people.owner)
    csrf_token_of(client, people)  # the cookie is set; the token is not sent
    before = state()

    response = client.post(reveal_url(people), headers=htmx_headers(htmx))

    assert response.status_code == 403
    assert_no_key_in(response, keys)
    assert state() == before


@pytest.mark.sqlite
def test_a_reveal_with_the_csrf_token_shows_the_keys_once_and_audits_once(people):
    keys = plain_keys(people.account)
    AuditEvent.objects.all().delete()
    client = csrf_client(people.owner)
    token = csrf_token_of(client, people)

    response = client.post(reveal_url(people), {"csrfmiddlewaretoken": token}, headers=HTMX)

    assert response.status_code == 200
    assert f'<code id="key-primary">{keys["primary"]}</code>' in response.content.decode()
    assert AuditEvent.objects.filter(action="keys.reveal").count() == 1
    assert AuditEvent.objects.count() == 1


@pytest.mark.sqlite
def test_without_javascript_show_posts_the_form_and_gets_the_whole_blade_with_the_keys(people):
    keys = plain_keys(people.account)
    client = csrf_client(people.owner)
    token = csrf_token_of(client, people)

    response = client.post(reveal_url(people), {"csrfmiddlewaretoken": token})

    assert response.status_code == 200
    assert "keys/index.html" in templates(response)
    content = response.content.decode()
    assert f'<code id="key-primary">{keys["primary"]}</code>' in content
    assert f'<code id="key-secondary">{keys["secondary"]}</code>' in content
    assert 'class="masked"' not in content
    assert response["Cache-Control"] == "no-store"
    assert AuditEvent.objects.filter(action="keys.reveal", actor=people.owner).count() == 1


# ---- Regenerate ------------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize(("slot", "other"), [("primary", "secondary"), ("secondary", "primary")])
def test_an_owner_is_asked_to_confirm_a_regeneration(people, client_for, slot, other):
    before = state()

    response = client_for(people.owner).get(regenerate_url(people, slot))

    assert response.status_code == 200
    assert "shell/dialog_page.html" in templates(response)
    content = response.content.decode()
    assert f"Are you sure you want to regenerate the {slot} access key of <strong>contoso-automation</strong>?" in (
        content
    )
    assert f"The {other} key keeps working" in content
    assert f'action="{regenerate_url(people, slot)}"' in content
    assert state() == before


def test_the_regenerate_dialog_comes_as_an_htmx_partial(people, client_for):
    response = client_for(people.owner).get(regenerate_url(people, "secondary"), headers=HTMX)

    assert response.status_code == 200
    assert templates(response)[0] == "keys/partials/regenerate_dialog.html" and "base.html" not in templates(response)
    assert b"<html" not in response.content


@pytest.mark.sqlite
@pytest.mark.parametrize(("slot", "other"), [("primary", "secondary"), ("secondary", "primary")])
def test_an_owner_regenerates_one_key_and_the_other_stays(people, client_for, slot, other):
    old = plain_keys(people.account)

    response = client_for(people.owner).post(regenerate_url(people, slot), follow=True)

    assert response.redirect_chain == [(keys_url(people), 302)]
    assert f"Regenerated the {slot} access key. Click Show to see it.".encode() in response.content
    new = plain_keys(people.account)
    assert new[slot] != old[slot]
    assert new[other] == old[other]
    assert_no_key_in(response, {**old, f"new {slot}": new[slot]})
    # The old key stops working for registration at once; the new one and the other one work.
    assert account_for_key(account_id=people.account.pk, presented=old[slot]) is None
    assert account_for_key(account_id=people.account.pk, presented=new[slot]) == people.account
    assert account_for_key(account_id=people.account.pk, presented=new[other]) == people.account
    event = AuditEvent.objects.get(action="keys.regenerate")
    assert (event.actor, event.source_ip, event.details) == (people.owner, "127.0.0.1", {"slot": slot})


def test_an_owner_regenerates_from_the_htmx_dialog_and_the_page_reloads(people, client_for):
    old = plain_keys(people.account)

    response = client_for(people.owner).post(regenerate_url(people, "primary"), headers=HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == keys_url(people)
    assert plain_keys(people.account)["primary"] != old["primary"]


@pytest.mark.parametrize("role", ["operator", "reader"])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("slot", ["primary", "secondary"])
def test_operators_and_readers_cannot_open_or_post_a_regeneration(people, client_for, role, htmx, slot):
    keys = plain_keys(people.account)
    client = client_for(people.by_role[role])
    headers = htmx_headers(htmx)
    before = state()

    opened = client.get(regenerate_url(people, slot), headers=headers)
    posted = client.post(regenerate_url(people, slot), headers=headers)

    assert (opened.status_code, posted.status_code) == (403, 403)
    assert b"Only an Owner of contoso-automation can do this." in posted.content
    assert state() == before
    assert plain_keys(people.account) == keys


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_key_slot_is_not_found(people, client_for, method):
    plain_keys(people.account)
    before = state()

    response = getattr(client_for(people.owner), method)(regenerate_url(people, "tertiary"))

    assert response.status_code == 404
    assert state() == before


def test_regenerate_answers_only_get_and_post(people, client_for):
    plain_keys(people.account)
    before = state()

    response = client_for(people.owner).put(regenerate_url(people, "primary"))

    assert response.status_code == 405
    assert state() == before


# ---- strangers -------------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("method", "name", "args"),
    [
        ("get", "portal:keys", []),
        ("get", "portal:keys_reveal", []),
        ("post", "portal:keys_reveal", []),
        ("get", "portal:keys_regenerate", ["primary"]),
        ("post", "portal:keys_regenerate", ["primary"]),
        ("post", "portal:keys_regenerate", ["secondary"]),
        ("post", "portal:keys_regenerate", ["tertiary"]),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(v),
)
def test_a_stranger_gets_404_for_every_keys_url_and_nothing_changes(people, client_for, method, name, args):
    keys = plain_keys(people.account)
    before = state()

    response = getattr(client_for(people.stranger), method)(reverse(name, args=[people.account.pk, *args]))

    assert response.status_code == 404
    assert b"contoso-automation" not in response.content
    assert_no_key_in(response, keys)
    assert state() == before


def test_an_owner_of_another_account_sees_only_their_own_keys(people, client_for):
    ours = plain_keys(people.account)
    theirs = plain_keys(people.other_account)

    response = client_for(people.stranger).post(reverse("portal:keys_reveal", args=[people.other_account.pk]))

    assert response.status_code == 200
    assert theirs["primary"] in response.content.decode()
    assert_no_key_in(response, ours)


# ---- no key on any other page ----------------------------------------------------------


@pytest.fixture
def every_account_page(people):
    """Every GET page of the account (today's and tomorrow's), with a group, a worker, a member, a runbook and a
    job to show. An id this fixture does not know yet is made up, and that page may answer 404."""
    from automation.services.jobs import start_job, start_test
    from automation.services.runbooks import create_runbook, publish_runbook

    system = Actor.for_system()
    group = create_group(account=people.account, name="lab", actor=system)
    worker = register_worker(
        account=people.account, group_name="lab", machine_id="machine-0001", name="web-01", facts={}
    ).worker
    runbook = create_runbook(
        account=people.account, name="hello", runbook_type="bash", content="echo hello", actor=system
    )
    publish_runbook(runbook=runbook, actor=system)
    job = start_job(account=people.account, runbook_name="hello", group_name="lab", actor=system)
    test = start_test(runbook=runbook, group_name="lab", actor=system)
    values = {
        "account_id": people.account.pk,
        "group_id": group.pk,
        "worker_id": worker.pk,
        "membership_id": Membership.objects.get(account=people.account, user=people.reader).pk,
        "slot": "primary",
        "runbook_id": runbook.pk,
        "job_id": job.pk,
    }
    pages = {}
    for pattern in portal_patterns:
        converters = pattern.pattern.converters
        if "account_id" in converters:
            known = set(converters) <= set(values)
            kwargs = {k: values.get(k, uuid.uuid4()) for k in converters}
            if pattern.name.startswith("runbook_test") and "job_id" in kwargs:
                kwargs["job_id"] = test.pk  # the Test pane's pages show only the tests of their runbook
            pages[pattern.name] = (reverse(f"portal:{pattern.name}", kwargs=kwargs), known)
    assert {"keys", "groups", "group", "group_workers", "worker", "worker_remove"} <= set(pages)
    return pages


@pytest.mark.parametrize("role", ["operator", "reader"])
def test_no_page_of_the_account_shows_a_key_to_operators_or_readers(people, client_for, every_account_page, role):
    keys = plain_keys(people.account)
    client = client_for(people.by_role[role])

    for name, (url, known) in every_account_page.items():
        for headers in ({}, HTMX):
            response = client.get(url, headers=headers)
            assert response.status_code in (200, 403, 405) or not known, (name, response.status_code)
            assert_no_key_in(response, keys)


def test_no_page_of_the_account_shows_a_key_to_an_owner_who_did_not_click_show(people, client_for, every_account_page):
    keys = plain_keys(people.account)
    client = client_for(people.owner)

    for name, (url, known) in every_account_page.items():
        if name == "keys_reveal":
            continue
        for headers in ({}, HTMX):
            response = client.get(url, headers=headers)
            assert response.status_code in (200, 405) or not known, (name, response.status_code)
            assert_no_key_in(response, keys)


# ---- commands on every page follow the account's role ----------------------------------


def test_a_reader_sees_no_add_delete_remove_or_regenerate_command_on_any_page(people, client_for, every_account_page):
    client = client_for(people.reader)

    for name, (url, _) in every_account_page.items():
        response = client.get(url)
        if response.status_code != 200:
            continue
        offered = [c for c in commands(response) if c.startswith(("Add", "Delete", "Remove", "Regenerate"))]
        assert offered == [], name


def test_an_operator_sees_the_group_and_worker_commands_but_never_regenerate(people, client_for, every_account_page):
    client = client_for(people.operator)
    seen = {}

    for name, (url, _) in every_account_page.items():
        response = client.get(url)
        if response.status_code == 200:
            seen[name] = commands(response)
            assert not [c for c in seen[name] if c.startswith("Regenerate")], name

    assert "Add hybrid worker group" in seen["groups"]
    assert "Delete" in seen["group"]
    assert "Remove" in seen["worker"]
    assert regenerate_url(people) not in client.get(every_account_page["keys"][0]).content.decode()


def test_an_owner_sees_regenerate_on_the_keys_blade_only(people, client_for, every_account_page):
    client = client_for(people.owner)

    offering = []
    for name, (url, _) in every_account_page.items():
        if name != "keys_reveal" and any(c.startswith("Regenerate") for c in commands(client.get(url))):
            offering.append(name)

    assert offering == ["keys"]


@pytest.mark.parametrize("shown", ["masked", "revealed"])
def test_the_register_line_asks_for_the_key_and_tells_where_the_agent_keeps_its_state(people, client_for, shown):
    keys = plain_keys(people.account)
    client = client_for(people.owner)
    response = client.get(keys_url(people)) if shown == "masked" else client.post(reveal_url(people), headers=HTMX)

    content = response.content.decode()
    # The key stays off the command line, so out of the shell's history; the agent asks for it.
    assert register_line(content).endswith(" --token -")
    assert keys["primary"] not in register_line(content)
    assert STATE_DIR_HINT in content
    assert "it asks for the key" in content

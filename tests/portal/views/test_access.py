"""Access control: the members list, and adding, changing and removing role assignments."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from automation.models import AuditEvent, Membership, Role
from automation.services.accounts import add_member
from automation.services.actor import Actor
from tests.support.htmx import HTMX, htmx_headers
from tests.support.state import state

pytestmark = pytest.mark.django_db


def templates(response) -> list[str]:
    return [t.name for t in response.templates]


def roles_in(account) -> dict[str, str]:
    return dict(Membership.objects.filter(account=account).values_list("user__username", "role"))


def member(account, username) -> Membership:
    return Membership.objects.get(account=account, user__username=username)


def access_url(p) -> str:
    return reverse("portal:access", args=[p.account.pk])


def add_url(p) -> str:
    return reverse("portal:access_add", args=[p.account.pk])


def role_url(p, username) -> str:
    return reverse("portal:access_role", args=[p.account.pk, member(p.account, username).pk])


def remove_url(p, username) -> str:
    return reverse("portal:access_remove", args=[p.account.pk, member(p.account, username).pk])


# ---- the members list ------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator", "reader"])
def test_every_member_sees_the_members_and_their_roles(people, client_for, role):
    response = client_for(people.by_role[role]).get(access_url(people))

    assert response.status_code == 200
    assert "access/index.html" in templates(response)
    members = [(m.user.username, m.role) for m in response.context["members"]]
    assert members == [("olivia", "owner"), ("oscar", "operator"), ("rita", "reader")]
    assert b'data-member="sam"' not in response.content


def test_an_owner_sees_the_controls_to_manage_members(people, client_for):
    content = client_for(people.owner).get(access_url(people)).content.decode()

    assert add_url(people) in content
    assert remove_url(people, "rita") in content
    assert role_url(people, "rita") in content


@pytest.mark.parametrize("role", ["operator", "reader"])
def test_operators_and_readers_do_not_see_the_controls(people, client_for, role):
    content = client_for(people.by_role[role]).get(access_url(people)).content.decode()

    assert add_url(people) not in content
    assert remove_url(people, "rita") not in content
    assert role_url(people, "rita") not in content
    assert "Reader" in content


def test_the_members_list_costs_the_same_queries_for_5_or_200_members(people, client_for):
    User = get_user_model()
    client = client_for(people.owner)

    def add_members(start, stop):
        User.objects.bulk_create(
            [User(username=f"member{i:03}", password="!", email=f"m{i}@example.test") for i in range(start, stop)]
        )
        for i in range(start, stop):
            add_member(account=people.account, username=f"member{i:03}", role=Role.READER, actor=Actor.for_system())

    def measure(expected_members):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(access_url(people))
        assert response.status_code == 200
        assert response.content.count(b"data-member=") == expected_members
        return [q["sql"] for q in queries.captured_queries]

    add_members(0, 2)
    client.get(access_url(people))  # warm up: the first request of a session may load more
    with_5 = measure(5)
    add_members(2, 197)
    with_200 = measure(200)

    assert len(with_200) == len(with_5), "\n".join(with_200)


# ---- add -------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_an_owner_opens_the_add_dialog_as_a_page(people, client_for):
    response = client_for(people.owner).get(add_url(people))

    assert response.status_code == 200
    assert "shell/dialog_page.html" in templates(response)
    assert "base.html" in templates(response)


def test_an_owner_opens_the_add_dialog_as_an_htmx_partial(people, client_for):
    response = client_for(people.owner).get(add_url(people), headers=HTMX)

    assert response.status_code == 200
    assert templates(response)[0] == "access/partials/add_dialog.html"
    assert "base.html" not in templates(response)
    assert b"<html" not in response.content


@pytest.mark.sqlite
def test_an_owner_adds_a_member(people, make_user, client_for):
    make_user("nina")

    response = client_for(people.owner).post(add_url(people), {"username": "nina", "role": "operator"}, follow=True)

    assert response.redirect_chain == [(access_url(people), 302)]
    assert roles_in(people.account)["nina"] == Role.OPERATOR
    assert b"Added nina as Operator." in response.content
    event = AuditEvent.objects.get(action="member.add", details__user="nina")
    assert (event.actor, event.source_ip) == (people.owner, "127.0.0.1")


def test_an_owner_adds_a_member_from_the_htmx_dialog_and_the_page_reloads(people, make_user, client_for):
    make_user("nina")

    response = client_for(people.owner).post(add_url(people), {"username": "nina", "role": "reader"}, headers=HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == access_url(people)
    assert roles_in(people.account)["nina"] == Role.READER


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": "nobody", "role": "reader"}, "There is no active user named &#x27;nobody&#x27;."),
        ({"username": "rita", "role": "owner"}, "rita is already a member of contoso-automation."),
        ({"username": "nina", "role": "superuser"}, "Select a valid choice."),
        ({"username": "", "role": "reader"}, "This field is required."),
    ],
    ids=["unknown-user", "already-member", "unknown-role", "no-username"],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_adding_with_bad_input_shows_the_form_again_with_a_400_and_changes_nothing(
    people, make_user, client_for, data, message, htmx
):
    make_user("nina")
    before = state()

    response = client_for(people.owner).post(add_url(people), data, headers=htmx_headers(htmx))

    assert response.status_code == 400
    assert message in response.content.decode()
    expected = "access/partials/add_dialog.html" if htmx else "shell/dialog_page.html"
    assert templates(response)[0] == expected
    assert state() == before


@pytest.mark.parametrize("role", ["operator", "reader"])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_operators_and_readers_cannot_open_or_post_the_add_dialog(people, make_user, client_for, role, htmx):
    make_user("nina")
    client = client_for(people.by_role[role])
    headers = htmx_headers(htmx)
    before = state()

    assert client.get(add_url(people), headers=headers).status_code == 403
    assert client.post(add_url(people), {"username": "nina", "role": "owner"}, headers=headers).status_code == 403

    assert state() == before


# ---- change role -----------------------------------------------------------------------


@pytest.mark.sqlite
def test_an_owner_changes_a_role(people, client_for):
    response = client_for(people.owner).post(role_url(people, "rita"), {"role": "operator"}, follow=True)

    assert response.redirect_chain == [(access_url(people), 302)]
    assert roles_in(people.account)["rita"] == Role.OPERATOR
    assert b"rita is now Operator." in response.content
    event = AuditEvent.objects.get(action="member.change_role")
    assert event.details == {"user": "rita", "from": "Reader", "to": "Operator"}
    assert event.source_ip == "127.0.0.1"


def test_an_owner_changes_a_role_over_htmx_and_the_page_reloads(people, client_for):
    response = client_for(people.owner).post(role_url(people, "oscar"), {"role": "owner"}, headers=HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == access_url(people)
    assert roles_in(people.account)["oscar"] == Role.OWNER


@pytest.mark.sqlite
def test_demoting_the_last_owner_shows_an_error_and_keeps_the_role(people, client_for):
    before = state()

    response = client_for(people.owner).post(role_url(people, "olivia"), {"role": "reader"}, follow=True)

    assert response.redirect_chain == [(access_url(people), 302)]
    assert b"olivia is the last Owner of contoso-automation; add another Owner first." in response.content
    assert state() == before


def test_an_unknown_role_shows_an_error_and_changes_nothing(people, client_for):
    before = state()

    response = client_for(people.owner).post(role_url(people, "rita"), {"role": "superuser"}, follow=True)

    assert response.redirect_chain == [(access_url(people), 302)]
    assert b"Choose a role: Owner, Operator or Reader." in response.content
    assert state() == before


@pytest.mark.parametrize("role", ["operator", "reader"])
@pytest.mark.parametrize("new_role", ["owner", "reader", "not-a-role"])
def test_operators_and_readers_cannot_change_roles(people, client_for, role, new_role):
    """Refused before the form is even read: a bad value gets the same 403 as a good one."""
    before = state()

    response = client_for(people.by_role[role]).post(role_url(people, "rita"), {"role": new_role})

    assert response.status_code == 403
    assert b"Only an Owner of contoso-automation can do this." in response.content
    assert state() == before


# ---- remove ----------------------------------------------------------------------------


@pytest.mark.sqlite
def test_an_owner_is_asked_to_confirm_a_removal(people, client_for):
    response = client_for(people.owner).get(remove_url(people, "rita"))

    assert response.status_code == 200
    assert "shell/dialog_page.html" in templates(response)
    assert "Are you sure you want to remove <strong>rita</strong> (Reader)" in response.content.decode()
    assert "rita" in roles_in(people.account)


def test_the_removal_dialog_comes_as_an_htmx_partial(people, client_for):
    response = client_for(people.owner).get(remove_url(people, "rita"), headers=HTMX)

    assert response.status_code == 200
    assert templates(response)[0] == "access/partials/remove_dialog.html"
    assert "base.html" not in templates(response)


def test_an_owner_removing_themselves_is_warned_they_lose_access(people, client_for):
    add_member(account=people.account, username="sam", role=Role.OWNER, actor=Actor.for_system())

    response = client_for(people.owner).get(remove_url(people, "olivia"))

    assert b"You will lose access to this account." in response.content


@pytest.mark.sqlite
def test_an_owner_removes_a_member(people, client_for):
    response = client_for(people.owner).post(remove_url(people, "rita"), follow=True)

    assert response.redirect_chain == [(access_url(people), 302)]
    assert "rita" not in roles_in(people.account)
    assert b"Removed rita from contoso-automation." in response.content
    event = AuditEvent.objects.get(action="member.remove")
    assert (event.actor, event.source_ip, event.details) == (
        people.owner,
        "127.0.0.1",
        {"user": "rita", "role": "Reader"},
    )


def test_an_owner_removes_a_member_from_the_htmx_dialog_and_the_page_reloads(people, client_for):
    response = client_for(people.owner).post(remove_url(people, "rita"), headers=HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == access_url(people)
    assert "rita" not in roles_in(people.account)


@pytest.mark.sqlite
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_the_dialog_for_removing_the_last_owner_says_it_cannot_be_done_and_offers_no_yes(people, client_for, htmx):
    response = client_for(people.owner).get(remove_url(people, "olivia"), headers=htmx_headers(htmx))

    content = response.content.decode()
    dialog = content[content.index('<div class="dialog"') :]
    text = re.sub(r"<[^>]+>", "", dialog)
    assert "olivia is the last Owner of contoso-automation and cannot be removed" in text
    assert "add another Owner first" in text
    assert "<form" not in dialog
    assert "Yes" not in dialog
    assert ">Close</button>" in dialog


def test_the_dialog_for_removing_an_owner_who_is_not_the_last_asks_yes_or_no(people, client_for):
    add_member(account=people.account, username="sam", role=Role.OWNER, actor=Actor.for_system())

    response = client_for(people.owner).get(remove_url(people, "olivia"), headers=HTMX)

    assert b"last Owner" not in response.content
    assert b'<button class="btn danger" type="submit">Yes</button>' in response.content


@pytest.mark.sqlite
def test_removing_the_last_owner_shows_an_error_and_keeps_the_row(people, client_for):
    before = state()

    response = client_for(people.owner).post(remove_url(people, "olivia"), follow=True)

    assert response.status_code == 200
    assert b"olivia is the last Owner of contoso-automation; add another Owner first." in response.content
    assert state() == before
    # Still a member, so the owner stays on the account's Access control page.
    assert response.redirect_chain == [(access_url(people), 302)]


def test_removing_the_last_owner_over_htmx_reloads_the_page_with_the_error(people, client_for):
    client = client_for(people.owner)
    before = state()

    response = client.post(remove_url(people, "olivia"), headers=HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == access_url(people)
    assert state() == before
    assert b"is the last Owner" in client.get(response["HX-Redirect"]).content


def test_an_owner_who_leaves_goes_home_and_loses_access(people, client_for):
    add_member(account=people.account, username="sam", role=Role.OWNER, actor=Actor.for_system())
    client = client_for(people.owner)

    response = client.post(remove_url(people, "olivia"), follow=True)

    assert response.redirect_chain == [(reverse("portal:home"), 302)]
    assert b"Removed olivia from contoso-automation." in response.content
    assert "olivia" not in roles_in(people.account)
    assert client.get(access_url(people)).status_code == 404


@pytest.mark.parametrize("role", ["operator", "reader"])
def test_operators_and_readers_cannot_open_or_post_a_removal(people, client_for, role):
    client = client_for(people.by_role[role])
    before = state()

    assert client.get(remove_url(people, "rita")).status_code == 403
    assert client.post(remove_url(people, "rita")).status_code == 403
    assert client.post(remove_url(people, "olivia"), headers=HTMX).status_code == 403

    assert state() == before


def test_a_removed_member_loses_access_at_once(people, client_for):
    reader = client_for(people.reader)
    assert reader.get(access_url(people)).status_code == 200

    client_for(people.owner).post(remove_url(people, "rita"))

    assert reader.get(access_url(people)).status_code == 404
    assert reader.get(reverse("portal:overview", args=[people.account.pk])).status_code == 404

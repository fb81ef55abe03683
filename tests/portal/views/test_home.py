"""Home: the list of the user's Automation accounts, and creating one (staff only)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from automation.models import AuditEvent, AutomationAccount, Role
from automation.services.accounts import create_account
from automation.services.actor import Actor
from automation.validators import NAME_RULE
from tests.support.htmx import HTMX, htmx_headers
from tests.support.state import state

pytestmark = pytest.mark.django_db

HOME = "/"
CREATE = "/accounts/create/"


def templates(response) -> list[str]:
    return [t.name for t in response.templates]


@pytest.fixture
def staff(make_user):
    return make_user("stella", staff=True)


def test_the_urls_are_the_ones_the_templates_link_to():
    assert reverse("portal:home") == HOME
    assert reverse("portal:create_account") == CREATE


# ---- the list --------------------------------------------------------------------------


@pytest.mark.sqlite
def test_home_lists_only_the_users_accounts_with_role_and_member_count(people, client_for):
    response = client_for(people.reader).get(HOME)

    assert response.status_code == 200
    assert [(a.name, a.role, a.member_count) for a in response.context["accounts"]] == [
        ("contoso-automation", "reader", 3)
    ]
    content = response.content.decode()
    assert "contoso-automation" in content
    assert reverse("portal:overview", args=[people.account.pk]) in content
    assert "fabrikam-automation" not in content
    assert "<td>Reader</td>" in content
    assert "<td>3</td>" in content


def test_home_shows_every_account_of_a_member_of_several(people, client_for):
    create_account(name="adventure-works", owner=people.reader, actor=Actor.for_system())

    response = client_for(people.reader).get(HOME)

    assert [(a.name, a.role) for a in response.context["accounts"]] == [
        ("adventure-works", "owner"),
        ("contoso-automation", "reader"),
    ]
    assert b"2 accounts" in response.content


def test_home_filters_by_name(people, client_for):
    create_account(name="adventure-works", owner=people.reader, actor=Actor.for_system())
    client = client_for(people.reader)

    assert [a.name for a in client.get(HOME, {"q": "CONTOSO"}).context["accounts"]] == ["contoso-automation"]
    assert [a.name for a in client.get(HOME, {"q": "  works "}).context["accounts"]] == ["adventure-works"]


def test_a_filter_never_finds_other_peoples_accounts(people, client_for):
    response = client_for(people.reader).get(HOME, {"q": "fabrikam"})

    assert response.context["accounts"] == []
    assert "No Automation account matches “<bdi>fabrikam</bdi>”." in response.content.decode()


def test_a_user_without_accounts_is_told_to_ask_an_owner(make_user, client_for):
    response = client_for(make_user("lone")).get(HOME)

    assert response.status_code == 200
    assert b"You are not a member of any Automation account yet." in response.content
    assert b"Ask an Owner to add you." in response.content
    assert CREATE.encode() not in response.content


def test_staff_see_the_create_command(staff, client_for):
    response = client_for(staff).get(HOME)

    assert CREATE.encode() in response.content
    assert b"Use <strong>+ Create</strong> to make one." in response.content


def test_the_home_page_costs_the_same_queries_for_5_or_200_accounts(make_user, client_for):
    user = make_user("olivia")
    client = client_for(user)

    def make_accounts(start, stop):
        for i in range(start, stop):
            create_account(name=f"account-{i:03}", owner=user, actor=Actor.for_system())

    def measure(expected):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(HOME)
        assert response.status_code == 200
        assert len(response.context["accounts"]) == expected
        assert response.content.count(b'<a href="/accounts/') == expected
        return [q["sql"] for q in queries.captured_queries]

    make_accounts(0, 5)
    client.get(HOME)  # warm up: the first request of a session may load more
    with_5 = measure(5)
    make_accounts(5, 200)
    with_200 = measure(200)

    assert len(with_200) == len(with_5), "\n".join(with_200)


# ---- create ----------------------------------------------------------------------------


@pytest.mark.sqlite
def test_staff_open_the_create_dialog_with_themselves_as_owner(staff, client_for):
    response = client_for(staff).get(CREATE)

    assert response.status_code == 200
    assert "shell/user_dialog_page.html" in templates(response)
    assert response.context["form"]["owner"].value() == "stella"


def test_the_create_dialog_comes_as_an_htmx_partial(staff, client_for):
    response = client_for(staff).get(CREATE, headers=HTMX)

    assert response.status_code == 200
    assert templates(response)[0] == "home/partials/create_dialog.html"
    assert "base.html" not in templates(response)


@pytest.mark.sqlite
def test_staff_create_an_account_they_own_and_land_on_its_overview(staff, client_for):
    response = client_for(staff).post(CREATE, {"name": "contoso", "owner": "stella"}, follow=True)

    account = AutomationAccount.objects.get(name="contoso")
    assert response.redirect_chain == [(reverse("portal:overview", args=[account.pk]), 302)]
    assert response.status_code == 200
    assert b"Created Automation account contoso." in response.content
    assert list(account.memberships.values_list("user__username", "role")) == [("stella", Role.OWNER)]
    event = AuditEvent.objects.get(action="account.create")
    assert (event.actor, event.source_ip, event.details) == (staff, "127.0.0.1", {"owner": "stella"})


@pytest.mark.sqlite
def test_staff_create_an_account_for_someone_else_and_go_back_home(staff, make_user, client_for):
    """Staff are not a member of an account made for someone else: its overview would be a 404."""
    make_user("olga")

    response = client_for(staff).post(CREATE, {"name": "contoso", "owner": "olga"}, follow=True)

    account = AutomationAccount.objects.get(name="contoso")
    assert response.redirect_chain == [(HOME, 302)]
    assert response.status_code == 200
    assert b"Created Automation account contoso." in response.content
    assert list(account.memberships.values_list("user__username", "role")) == [("olga", Role.OWNER)]
    assert account.created_by == staff


def test_the_form_trims_spaces_around_the_name(staff, client_for):
    client_for(staff).post(CREATE, {"name": "  contoso  ", "owner": " stella "})

    assert AutomationAccount.objects.get().name == "contoso"


def test_staff_create_an_account_from_the_htmx_dialog_and_the_page_moves_on(staff, client_for):
    response = client_for(staff).post(CREATE, {"name": "contoso", "owner": "stella"}, headers=HTMX)

    account = AutomationAccount.objects.get(name="contoso")
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("portal:overview", args=[account.pk])


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator", "reader", "stranger"])
def test_users_who_are_not_staff_get_403_and_create_nothing(people, client_for, role):
    client = client_for(people.by_role[role])
    before = state()

    get = client.get(CREATE)
    post = client.post(CREATE, {"name": "sneaky", "owner": people.by_role[role].username})

    assert get.status_code == 403
    assert post.status_code == 403
    assert b"Only staff can create Automation accounts." in post.content
    assert state() == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "slash/name", "owner": "stella"}, NAME_RULE.replace("'", "&#x27;")),
        ({"name": "tab\tinside", "owner": "stella"}, NAME_RULE.replace("'", "&#x27;")),
        ({"name": "x" * 129, "owner": "stella"}, NAME_RULE.replace("'", "&#x27;")),
        ({"name": "caf\u00e9", "owner": "stella"}, NAME_RULE.replace("'", "&#x27;")),
        # One name rule, the service's: no second, looser length check in the form.
        ({"name": "x" * 201, "owner": "stella"}, NAME_RULE.replace("'", "&#x27;")),
        ({"name": "contoso", "owner": "nobody"}, "There is no active user named &#x27;nobody&#x27;."),
        ({"name": "", "owner": "stella"}, "This field is required."),
        ({"name": "contoso", "owner": ""}, "This field is required."),
    ],
    ids=["slash", "tab", "129-chars", "unicode", "201-chars", "unknown-owner", "no-name", "no-owner"],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_create_form_with_errors_is_a_400_and_writes_nothing(staff, client_for, data, message, htmx):
    before = state()

    response = client_for(staff).post(CREATE, data, headers=htmx_headers(htmx))

    assert response.status_code == 400
    assert message in response.content.decode()
    expected = "home/partials/create_dialog.html" if htmx else "shell/user_dialog_page.html"
    assert templates(response)[0] == expected
    assert state() == before


@pytest.mark.sqlite
def test_creating_a_name_that_is_taken_is_a_400_and_writes_nothing(people, staff, client_for):
    before = state()

    response = client_for(staff).post(CREATE, {"name": "contoso-automation", "owner": "stella"})

    assert response.status_code == 400
    assert "An Automation account named &#x27;contoso-automation&#x27; already exists." in response.content.decode()
    assert state() == before

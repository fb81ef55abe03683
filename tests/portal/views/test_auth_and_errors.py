"""Who may open which page, and what a person sees when a request is refused."""

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.urls.converters import UUIDConverter

from automation.models import Membership
from automation.services.notifications import create_notification
from portal.urls import portal_patterns
from tests.support.htmx import HTMX
from tests.support.state import state

pytestmark = pytest.mark.django_db


def rita_in(account) -> int:
    return Membership.objects.get(account=account, user__username="rita").pk


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    kind: str  # portal | staff | account | owner_page | owner_post

    def url(self, p) -> str:
        account = p.account.pk
        if self.name in ("portal:home", "portal:create_account") or self.name.startswith("portal:notifications"):
            return reverse(self.name)
        if self.name in ("portal:access_role", "portal:access_remove"):
            return reverse(self.name, args=[account, rita_in(p.account)])
        return reverse(self.name, args=[account])

    def data(self) -> dict[str, Any]:
        return {
            "portal:create_account": {"name": "new-account", "owner": "olivia"},
            "portal:access_add": {"username": "nina", "role": "reader"},
            "portal:access_role": {"role": "operator"},
        }.get(self.name, {})

    def request(self, client, p, **extra):
        if self.method == "get":
            return client.get(self.url(p), **extra)
        return client.post(self.url(p), self.data(), **extra)

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.name.removeprefix('portal:')}"


# The portal's account, access control and notifications routes, with each method they answer.
# (test_no_page_of_the_portal_answers_an_anonymous_visitor covers any route added later.)
ROUTES = [
    Route("portal:home", "get", "portal"),
    Route("portal:create_account", "get", "staff"),
    Route("portal:create_account", "post", "staff"),
    Route("portal:overview", "get", "account"),
    Route("portal:activity", "get", "account"),
    Route("portal:access", "get", "account"),
    Route("portal:access_add", "get", "owner_page"),
    Route("portal:access_add", "post", "owner_post"),
    Route("portal:access_role", "post", "owner_post"),
    Route("portal:access_remove", "get", "owner_page"),
    Route("portal:access_remove", "post", "owner_post"),
    Route("portal:notifications", "get", "portal"),
    Route("portal:notifications_bell", "get", "portal"),
    Route("portal:notifications_read", "post", "portal"),
    Route("portal:notifications_dismiss", "post", "portal"),
]
ACCOUNT_ROUTES = [r for r in ROUTES if r.kind in ("account", "owner_page", "owner_post")]

EXPECTED = {
    # kind: {role: status}
    "portal": {"owner": 200, "operator": 200, "reader": 200, "stranger": 200},
    "staff": {"owner": 403, "operator": 403, "reader": 403, "stranger": 403},
    "account": {"owner": 200, "operator": 200, "reader": 200, "stranger": 404},
    "owner_page": {"owner": 200, "operator": 403, "reader": 403, "stranger": 404},
    "owner_post": {"owner": 302, "operator": 403, "reader": 403, "stranger": 404},
}


def expected_status(route: Route, role: str) -> int:
    status = EXPECTED[route.kind][role]
    if route.kind == "portal" and route.method == "post":
        return 302  # back to the notifications page
    return status


def test_every_route_of_the_table_is_a_url_of_the_portal():
    assert {r.name for r in ROUTES} <= {f"portal:{p.name}" for p in portal_patterns}


def every_portal_url():
    """Every page of the portal, today's and tomorrow's, with made-up ids filled in."""
    for pattern in portal_patterns:
        kwargs = {
            name: uuid.uuid4() if isinstance(converter, UUIDConverter) else 1
            for name, converter in pattern.pattern.converters.items()
        }
        yield pytest.param(reverse(f"portal:{pattern.name}", kwargs=kwargs), id=pattern.name)


@pytest.mark.parametrize("url", list(every_portal_url()))
@pytest.mark.parametrize("method", ["get", "post"])
def test_no_page_of_the_portal_answers_an_anonymous_visitor(db, url, method):
    response = getattr(Client(), method)(url)

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={url}"


@pytest.mark.sqlite
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_anonymous_visitors_are_sent_to_sign_in(people, make_user, route):
    make_user("nina")
    before = state()

    response = route.request(Client(), people)

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={route.url(people)}"
    assert state() == before


@pytest.mark.parametrize("route", ROUTES, ids=str)
@pytest.mark.parametrize("role", ["owner", "operator", "reader", "stranger"])
def test_each_role_gets_the_answer_its_role_allows(people, make_user, client_for, route, role):
    make_user("nina")
    before = state()

    response = route.request(client_for(people.by_role[role]), people)

    expected = expected_status(route, role)
    assert response.status_code == expected, response.content.decode()[:500]
    if expected in (403, 404):
        assert state() == before
        assert "errors/error.html" in [t.name for t in response.templates]


@pytest.mark.sqlite
@pytest.mark.parametrize("route", ACCOUNT_ROUTES, ids=str)
def test_a_stranger_gets_404_for_every_account_url_and_nothing_changes(people, make_user, client_for, route):
    make_user("nina")
    before = state()

    response = route.request(client_for(people.stranger), people)

    assert response.status_code == 404
    assert b"There is nothing here, or you do not have access to it." in response.content
    assert b"contoso-automation" not in response.content
    assert state() == before


@pytest.mark.parametrize(
    "route", [r for r in ACCOUNT_ROUTES if r.name in ("portal:access_role", "portal:access_remove")], ids=str
)
def test_an_owner_of_another_account_cannot_reach_this_accounts_members_through_their_own(people, client_for, route):
    """The stranger owns fabrikam; rita's membership in contoso is not found under fabrikam's URL."""
    before = state()
    url = reverse(route.name, args=[people.other_account.pk, rita_in(people.account)])

    client = client_for(people.stranger)
    response = client.get(url) if route.method == "get" else client.post(url, route.data())

    assert response.status_code == 404
    assert state() == before


# ---- sign-in ---------------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_wrong_password_gets_a_400_page_with_the_message_and_no_session(make_user):
    make_user("olivia")
    client = Client()

    response = client.post(reverse("login"), {"username": "olivia", "password": "wrong"})

    assert response.status_code == 400
    assert b"Your username and password didn't match." in response.content
    assert "sessionid" not in client.cookies
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("portal:home")).status_code == 302


def test_an_unknown_username_gets_the_same_400_page(db):
    client = Client()

    response = client.post(reverse("login"), {"username": "nobody", "password": "whatever"})

    assert response.status_code == 400
    assert b"Your username and password didn't match." in response.content
    assert "_auth_user_id" not in client.session


def test_an_inactive_user_cannot_sign_in(make_user):
    user = make_user("olivia")
    user.is_active = False
    user.save()
    client = Client()

    response = client.post(reverse("login"), {"username": "olivia", "password": "correct horse battery"})

    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


@pytest.mark.sqlite
def test_the_right_password_signs_in_and_goes_home(make_user):
    user = make_user("olivia")
    client = Client()

    response = client.post(reverse("login"), {"username": "olivia", "password": "correct horse battery"})

    assert response.status_code == 302
    assert response.url == reverse("portal:home")
    assert client.session["_auth_user_id"] == str(user.pk)


def test_signing_in_returns_to_the_page_asked_for(people):
    client = Client()
    overview = reverse("portal:overview", args=[people.account.pk])

    response = client.post(
        reverse("login"), {"username": "olivia", "password": "correct horse battery", "next": overview}
    )

    assert response.status_code == 302
    assert response.url == overview


def test_signing_in_does_not_redirect_to_another_site(make_user):
    make_user("olivia")

    response = Client().post(
        reverse("login"),
        {"username": "olivia", "password": "correct horse battery", "next": "https://evil.example/"},
    )

    assert response.status_code == 302
    assert response.url == reverse("portal:home")


def test_a_signed_in_user_visiting_the_sign_in_page_goes_home(people, client_for):
    response = client_for(people.owner).get(reverse("login"))

    assert response.status_code == 302
    assert response.url == reverse("portal:home")


def test_signing_out_ends_the_session(people, client_for):
    client = client_for(people.owner)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("portal:home")).status_code == 302


# ---- refused requests ------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_reader_posting_an_owner_only_form_gets_a_403_page_and_nothing_changes(people, make_user, client_for):
    make_user("nina")
    before = state()

    response = client_for(people.reader).post(
        reverse("portal:access_add", args=[people.account.pk]), {"username": "nina", "role": "owner"}
    )

    assert response.status_code == 403
    assert "errors/error.html" in [t.name for t in response.templates]
    assert b"Not allowed" in response.content
    assert b"Only an Owner of contoso-automation can do this." in response.content
    assert state() == before


def test_a_reader_changing_a_role_gets_a_403_page_and_nothing_changes(people, client_for):
    before = state()

    response = client_for(people.reader).post(
        reverse("portal:access_role", args=[people.account.pk, rita_in(people.account)]), {"role": "owner"}
    )

    assert response.status_code == 403
    assert b"Only an Owner of contoso-automation can do this." in response.content
    assert state() == before


@pytest.fixture
def csrf_client(people):
    """A client that checks CSRF tokens the way a browser's requests are checked, with a token cookie set."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(people.owner)
    client.get(reverse("portal:access", args=[people.account.pk]))
    assert client.cookies["csrftoken"].value
    return client


@pytest.mark.sqlite
def test_a_forged_csrf_token_gets_a_403_page_that_says_the_form_expired(people, make_user, csrf_client):
    make_user("nina")
    before = state()

    response = csrf_client.post(
        reverse("portal:access_add", args=[people.account.pk]),
        {"username": "nina", "role": "owner", "csrfmiddlewaretoken": "F" * 32},
    )

    assert response.status_code == 403
    assert "errors/error.html" in [t.name for t in response.templates]
    assert b"Form expired" in response.content
    assert b"Reload the page and try again." in response.content
    assert state() == before


def test_a_forged_csrf_header_on_an_htmx_request_is_refused_too(people, csrf_client):
    before = state()

    response = csrf_client.post(
        reverse("portal:access_remove", args=[people.account.pk, rita_in(people.account)]),
        headers={**HTMX, "X-CSRFToken": "F" * 32},
    )

    assert response.status_code == 403
    assert b"Form expired" in response.content
    assert state() == before


def test_a_post_without_any_csrf_token_is_refused(people, csrf_client):
    before = state()

    response = csrf_client.post(reverse("portal:access_role", args=[people.account.pk, rita_in(people.account)]))

    assert response.status_code == 403
    assert b"Form expired" in response.content
    assert state() == before


def test_the_real_csrf_token_is_accepted(people, make_user, csrf_client):
    """The control for the forged-token tests: the same request with the real token goes through."""
    make_user("nina")

    response = csrf_client.post(
        reverse("portal:access_add", args=[people.account.pk]),
        {"username": "nina", "role": "reader", "csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value},
    )

    assert response.status_code == 302
    assert Membership.objects.filter(account=people.account, user__username="nina").exists()


def test_the_sign_in_form_checks_its_csrf_token(make_user):
    make_user("olivia")
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("login"))

    response = client.post(
        reverse("login"),
        {"username": "olivia", "password": "correct horse battery", "csrfmiddlewaretoken": "F" * 32},
    )

    assert response.status_code == 403
    assert b"Form expired" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.sqlite
def test_an_unknown_account_id_gets_a_404_page(people, client_for):
    response = client_for(people.owner).get(reverse("portal:overview", args=[uuid.uuid4()]))

    assert response.status_code == 404
    assert "errors/error.html" in [t.name for t in response.templates]
    assert b"Not found" in response.content


def test_an_account_id_that_is_not_a_uuid_gets_a_404_page(people, client_for):
    response = client_for(people.owner).get("/accounts/not-a-uuid/")

    assert response.status_code == 404
    assert b"Not found" in response.content


def test_an_unknown_membership_id_gets_a_404_page(people, client_for):
    before = state()
    client = client_for(people.owner)

    assert client.get(reverse("portal:access_remove", args=[people.account.pk, 999_999])).status_code == 404
    assert client.post(reverse("portal:access_remove", args=[people.account.pk, 999_999])).status_code == 404
    assert (
        client.post(reverse("portal:access_role", args=[people.account.pk, 999_999]), {"role": "reader"}).status_code
        == 404
    )
    assert state() == before


@pytest.mark.sqlite
def test_a_notification_id_that_is_not_a_uuid_gets_a_400(people, client_for):
    note = create_notification(title="Maintenance", account=people.account)
    before = state()

    response = client_for(people.reader).post(
        reverse("portal:notifications_read"), {"id": [str(note.pk), "not-a-uuid"]}
    )

    assert response.status_code == 400
    assert b"Unknown notification id." in response.content
    assert state() == before


@pytest.mark.parametrize("name", ["portal:notifications_read", "portal:notifications_dismiss", "portal:access_role"])
def test_post_only_routes_refuse_a_get(people, client_for, name):
    args = [people.account.pk, rita_in(people.account)] if name == "portal:access_role" else []

    response = client_for(people.owner).get(reverse(name, args=args))

    assert response.status_code == 405

"""The profile page: personal API tokens are created (shown once), listed and revoked."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from automation.models import ApiToken, AuditEvent
from automation.services.actor import Actor
from automation.services.crypto import hash_secret
from automation.services.tokens import create_token
from tests.support.htmx import HTMX, htmx_headers
from tests.support.state import state

pytestmark = pytest.mark.django_db

PROFILE = reverse("portal:profile")
NEW = reverse("portal:token_new")


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def revoke_url(token) -> str:
    return reverse("portal:token_revoke", args=[token.pk])


def templates(response) -> list[str]:
    return [t.name for t in response.templates]


def anywhere_in_the_database(text: str) -> list[str]:
    """The models whose rows hold `text` in any column."""
    return [model.__name__ for model in apps.get_models() if text in repr(list(model.objects.values()))]


def works_as_bearer(plain: str) -> bool:
    response = APIClient(REMOTE_ADDR="198.51.100.30").get(
        "/api/v1/accounts/", headers={"Authorization": f"Bearer {plain}"}
    )
    return response.status_code == 200


def make_token(user, name="ci pipeline", expires_days=None):
    return create_token(user=user, name=name, expires_days=expires_days, actor=Actor(user=user))


# ---- create ----------------------------------------------------------------------------


def test_the_new_token_dialog_is_a_form(people, client_for):
    response = client_for(people.owner).get(NEW)
    assert response.status_code == 200
    assert "shell/user_dialog_page.html" in templates(response)
    html = response.content.decode()
    assert 'name="name"' in html and 'name="expires_days"' in html and "csrfmiddlewaretoken" in html


def test_the_new_token_dialog_comes_as_an_htmx_partial(people, client_for):
    response = client_for(people.owner).get(NEW, headers=HTMX)
    assert templates(response)[0] == "profile/partials/new_token_dialog.html"
    assert "base.html" not in templates(response)


@pytest.mark.parametrize("htmx", [False, True])
def test_a_user_creates_a_token_that_is_shown_once_and_stored_only_as_a_hash(people, client_for, htmx):
    client = client_for(people.owner)
    response = client.post(NEW, {"name": "ci pipeline", "expires_days": "30"}, headers=htmx_headers(htmx))
    assert response.status_code == 200
    expected = "profile/partials/token_created.html" if htmx else "shell/user_dialog_page.html"
    assert templates(response)[0] == expected
    plain = response.context["new"].plain
    assert plain.startswith("hrwpat_") and plain in response.content.decode()
    assert "not shown again" in response.content.decode()

    token = ApiToken.objects.get()
    secret = plain.split("_", 2)[2]
    assert (token.user, token.name) == (people.owner, "ci pipeline")
    assert token.secret_hash == hash_secret(secret)
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert anywhere_in_the_database(plain) == [] and anywhere_in_the_database(secret) == []
    event = AuditEvent.objects.get(action="apitoken.create")
    assert event.actor == people.owner and plain not in repr(list(AuditEvent.objects.values()))

    assert works_as_bearer(plain)
    assert plain not in client.get(PROFILE).content.decode()


def test_a_token_without_expiry_never_expires(people, client_for):
    client_for(people.owner).post(NEW, {"name": "forever", "expires_days": ""})
    token = ApiToken.objects.get()
    assert token.expires_at is None
    assert "Never" in client_for(people.owner).get(PROFILE).content.decode()


BAD_INPUT = {
    "empty name": ({"name": "", "expires_days": "30"}, "name"),
    "blank name": ({"name": "   ", "expires_days": "30"}, "name"),
    "no name": ({"expires_days": "30"}, "name"),
    "long name": ({"name": "x" * 101, "expires_days": ""}, "name"),
    "control character": ({"name": "bad\x01name", "expires_days": ""}, "name"),
    "0 days": ({"name": "ok", "expires_days": "0"}, "expires_days"),
    "negative days": ({"name": "ok", "expires_days": "-1"}, "expires_days"),
    "5000 days": ({"name": "ok", "expires_days": "5000"}, "expires_days"),
    "3651 days": ({"name": "ok", "expires_days": "3651"}, "expires_days"),
    "words": ({"name": "ok", "expires_days": "ten"}, "expires_days"),
    "fraction": ({"name": "ok", "expires_days": "1.5"}, "expires_days"),
}


@pytest.mark.parametrize(("data", "field"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_input_is_400_and_writes_nothing(people, client_for, data, field, htmx):
    before = state()
    response = client_for(people.owner).post(NEW, data, headers=htmx_headers(htmx))
    assert response.status_code == 400
    assert list(response.context["form"].errors) == [field]
    html = response.content.decode()
    assert 'class="errors"' in html
    assert "hrwpat_" not in html
    assert state() == before


def test_the_expiry_bounds_are_accepted(people, client_for):
    client = client_for(people.owner)
    assert client.post(NEW, {"name": "one", "expires_days": "1"}).status_code == 200
    assert client.post(NEW, {"name": "max", "expires_days": "3650"}).status_code == 200
    assert ApiToken.objects.count() == 2


def test_anonymous_visitors_are_sent_to_sign_in(people, client):
    before = state()
    for response in (client.get(PROFILE), client.get(NEW), client.post(NEW, {"name": "x"})):
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert state() == before


def test_other_methods_are_refused(people, client_for):
    assert client_for(people.owner).put(NEW).status_code == 405


# ---- list ----------------------------------------------------------------------------------


def test_the_profile_lists_only_the_users_own_tokens_without_secrets(people, client_for):
    mine = [make_token(people.owner, "ci pipeline", 30), make_token(people.owner, "laptop")]
    theirs = make_token(people.stranger, "stranger's token")
    response = client_for(people.owner).get(PROFILE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "ci pipeline" in html and "laptop" in html
    assert "stranger" not in html and revoke_url(theirs.token) not in html
    for new in [*mine, theirs]:
        assert new.plain not in html
        assert new.plain.split("_", 2)[2] not in html
        assert new.token.secret_hash not in html
        assert new.token.lookup not in html
    assert revoke_url(mine[0].token) in html and revoke_url(mine[1].token) in html


def test_an_empty_list_says_how_to_create_a_token(people, client_for):
    html = client_for(people.owner).get(PROFILE).content.decode()
    assert "No API tokens" in html and NEW in html


def test_the_list_shows_when_a_token_was_last_used(people, client_for):
    new = make_token(people.owner)
    assert "Never" in client_for(people.owner).get(PROFILE).content.decode()
    assert works_as_bearer(new.plain)
    new.token.refresh_from_db()
    assert new.token.last_used_at is not None


# ---- revoke --------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_revoking_asks_for_confirmation_first(people, client_for, htmx):
    new = make_token(people.owner)
    before = state()
    response = client_for(people.owner).get(revoke_url(new.token), headers=htmx_headers(htmx))
    assert response.status_code == 200
    expected = "profile/partials/revoke_dialog.html" if htmx else "shell/user_dialog_page.html"
    assert templates(response)[0] == expected
    html = response.content.decode()
    assert "Are you sure" in html and "ci pipeline" in html
    assert f'action="{revoke_url(new.token)}"' in html and 'method="post"' in html
    assert new.plain not in html
    assert state() == before
    assert works_as_bearer(new.plain)


def test_posting_the_confirmation_revokes_the_token(people, client_for):
    new = make_token(people.owner)
    client = client_for(people.owner)
    response = client.post(revoke_url(new.token))
    assert response.status_code == 302 and response["Location"] == PROFILE
    assert not ApiToken.objects.exists()
    assert not works_as_bearer(new.plain)
    event = AuditEvent.objects.get(action="apitoken.revoke")
    assert event.actor == people.owner and event.target_name.startswith("ci pipeline")
    assert "Revoked API token ci pipeline" in client.get(PROFILE).content.decode()


def test_revoking_from_an_htmx_dialog_redirects_the_whole_page(people, client_for):
    new = make_token(people.owner)
    response = client_for(people.owner).post(revoke_url(new.token), headers=HTMX)
    assert response.status_code == 200 and response["HX-Redirect"] == PROFILE
    assert not ApiToken.objects.exists()


def test_revoking_one_token_leaves_the_others(people, client_for):
    first, second = make_token(people.owner, "one"), make_token(people.owner, "two")
    client_for(people.owner).post(revoke_url(first.token))
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["two"]
    assert works_as_bearer(second.plain) and not works_as_bearer(first.plain)


@pytest.mark.parametrize("method", ["get", "post"])
def test_nobody_sees_or_revokes_another_users_token(people, client_for, method):
    theirs = make_token(people.stranger, "stranger's token")
    before = state()
    for user in (people.owner, people.reader):
        response = getattr(client_for(user), method)(revoke_url(theirs.token))
        assert response.status_code == 404
        assert "stranger's token" not in response.content.decode()
    assert state() == before
    assert works_as_bearer(theirs.plain)


def test_revoking_a_token_that_does_not_exist_is_404(people, client_for):
    assert client_for(people.owner).post(reverse("portal:token_revoke", args=[999999])).status_code == 404


def test_staff_cannot_revoke_someone_elses_token_from_the_profile_either(people, make_user, client_for):
    theirs = make_token(people.owner)
    staff = make_user("stella", staff=True)
    assert client_for(staff).post(revoke_url(theirs.token)).status_code == 404
    assert ApiToken.objects.filter(pk=theirs.token.pk).exists()

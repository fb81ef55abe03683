"""The management API's personal API tokens: expired, revoked, wrong, and `createapitoken`."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from automation.models import ApiToken
from automation.services.actor import Actor
from automation.services.tokens import create_token, revoke_token
from tests.automation.api.helpers import assert_error
from tests.automation.api.management_support import (
    World,
    account_url,
    make_world,
    token_for,
)
from tests.support.state import state

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(people) -> World:
    return make_world(people)


def test_an_expired_token_is_401(world):
    new = create_token(user=world.people.owner, name="short", expires_days=1, actor=Actor.for_system())
    client = APIClient(headers={"Authorization": f"Bearer {new.plain}"})
    assert client.get("/api/v1/accounts/").status_code == 200
    ApiToken.objects.filter(pk=new.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/accounts/")
    body = assert_error(response, 401, "unauthorized")
    assert "expired" in body["detail"] and new.plain not in body["detail"]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_revoked_token_is_401(world):
    new = create_token(user=world.people.owner, name="gone", expires_days=None, actor=Actor.for_system())
    client = APIClient(headers={"Authorization": f"Bearer {new.plain}"})
    assert client.get("/api/v1/accounts/").status_code == 200
    revoke_token(user=world.people.owner, token_id=new.token.pk, actor=Actor(user=world.people.owner))
    assert_error(client.get("/api/v1/accounts/"), 401, "unauthorized")


@pytest.mark.parametrize("header", ["Bearer hrwpat_nope_nope", "Bearer ", "Bearer x", "Bearer hrw_abc_def"])
def test_a_wrong_token_is_401_not_anonymous(world, header):
    before = state()
    response = APIClient(headers={"Authorization": header}).post(account_url(world, "groups/"), {"name": "x"})
    assert_error(response, 401, "unauthorized")
    assert state() == before


def test_a_token_with_a_wrong_secret_is_401(world):
    plain = token_for(world.people.owner)
    prefix, lookup, _ = plain.split("_", 2)
    client = APIClient(headers={"Authorization": f"Bearer {prefix}_{lookup}_{'A' * 43}"})
    assert_error(client.get("/api/v1/accounts/"), 401)


def test_a_deactivated_users_token_is_401(world):
    plain = token_for(world.people.operator)
    world.people.operator.is_active = False
    world.people.operator.save()
    assert_error(APIClient(headers={"Authorization": f"Bearer {plain}"}).get("/api/v1/accounts/"), 401)


def test_a_token_acts_with_its_owners_current_role(world):
    from automation.services.accounts import change_role

    plain = token_for(world.people.reader)
    client = APIClient(headers={"Authorization": f"Bearer {plain}"})
    assert_error(client.post(account_url(world, "groups/"), {"name": "x"}, format="json"), 403)
    membership = world.account.memberships.get(user=world.people.reader)
    change_role(account=world.account, membership_id=membership.pk, role="operator", actor=Actor.for_system())
    assert client.post(account_url(world, "groups/"), {"name": "x"}, format="json").status_code == 201


def test_too_many_bad_tokens_from_one_address_get_429_but_a_good_one_gets_through(world, settings):
    settings.AUTH_FAILURES_PER_MINUTE = 3
    good = token_for(world.people.owner)
    for _ in range(3):
        assert_error(APIClient(headers={"Authorization": "Bearer hrwpat_a_b"}).get("/api/v1/accounts/"), 401)
    response = APIClient(headers={"Authorization": "Bearer hrwpat_a_b"}).get("/api/v1/accounts/")
    assert_error(response, 429, "too_many_failures")
    assert int(response["Retry-After"]) > 0
    assert APIClient(headers={"Authorization": f"Bearer {good}"}).get("/api/v1/accounts/").status_code == 200


def test_createapitoken_prints_only_a_working_token(world):
    out, err = StringIO(), StringIO()
    call_command("createapitoken", "olivia", "--expires-days", "7", stdout=out, stderr=err)
    printed = out.getvalue()
    assert printed.count("\n") <= 1
    plain = printed.strip()
    assert plain.startswith("hrwpat_") and " " not in plain
    token = ApiToken.objects.get(user=world.people.owner)
    assert token.expires_at is not None
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert plain not in str(ApiToken.objects.values().get()) and plain not in err.getvalue()
    response = APIClient(headers={"Authorization": f"Bearer {plain}"}).get("/api/v1/accounts/")
    assert response.status_code == 200
    assert [a["name"] for a in response.json()["results"]] == ["contoso-automation"]


def test_createapitoken_without_expiry_never_expires(world):
    out = StringIO()
    call_command("createapitoken", "rita", stdout=out)
    assert ApiToken.objects.get(user=world.people.reader).expires_at is None
    assert (
        APIClient(headers={"Authorization": f"Bearer {out.getvalue().strip()}"}).get("/api/v1/accounts/").status_code
        == 200
    )


@pytest.mark.parametrize(
    ("args", "message"), [(["nobody"], "no active user"), (["olivia", "--expires-days", "0"], "1 to")]
)
def test_createapitoken_refuses_bad_input_and_prints_no_token(world, args, message):
    out = StringIO()
    with pytest.raises(CommandError, match=message):
        call_command("createapitoken", *args, stdout=out)
    assert out.getvalue() == ""
    assert not ApiToken.objects.exists()

"""Failed authentications are throttled, never valid ones: a flood of bad secrets from one address (or
aimed at one credential from many) gets 429, while every valid worker credential, API token and account
key still gets through. Behind a trusted proxy each client is counted by its own address."""

import secrets

import pytest
from rest_framework.test import APIClient

from automation.models import AuditEvent
from automation.services.actor import Actor
from automation.services.tokens import create_token
from tests.automation.api.helpers import assert_error, call, register_body, registered

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

ADDRESS = "198.51.100.10"
PROXY = "10.0.0.5"


@pytest.fixture
def worker(agent, people, keys):
    return registered(agent, people.account, keys["a"]["primary"], machine_id="machine-0001")


@pytest.fixture
def token(people):
    return create_token(user=people.owner, name="ci", expires_days=None, actor=Actor.for_system()).plain


def from_address(address: str, **headers) -> APIClient:
    return APIClient(REMOTE_ADDR=address, headers=headers)


def bad_heartbeat(client, people, secret: str | None = None):
    """A made-up credential (a new lookup id each time, unless given)."""
    secret = secret or f"hrw_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
    return call(client, people.account.pk, "heartbeat", {"facts": {}}, token=secret)


def bad_api_call(client, secret: str | None = None):
    secret = secret or f"hrwpat_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
    return client.get("/api/v1/accounts/", headers={"Authorization": f"Bearer {secret}"})


def bad_register(client, people):
    return call(client, people.account.pk, "register", register_body(), token="not-the-key")


def assert_throttled(response) -> None:
    body = assert_error(response, 429, "too_many_failures")
    assert 0 < int(response["Retry-After"]) <= 60
    assert response["Retry-After"] in body["detail"]


def test_a_flood_of_bad_secrets_from_one_address_never_locks_out_valid_ones(agent, people, keys, worker, token):
    # 30 failed checks of every kind from the agent's address: the limit is reached.
    for i in range(30):
        failed = (bad_heartbeat, lambda c, p: bad_api_call(c), bad_register)[i % 3](agent, people)
        assert failed.status_code == 401, failed.content

    # Further bad ones are 429, of every kind.
    assert_throttled(bad_heartbeat(agent, people))
    assert_throttled(bad_api_call(agent))
    assert_throttled(bad_register(agent, people))

    # Valid ones from the very same address get through, again and again.
    for _ in range(2):
        assert call(agent, people.account.pk, "heartbeat", {"facts": {}}, token=worker["credential"]).status_code == 200
        assert bad_api_call(agent, token).status_code == 200
        # Another machine, so the first worker's credential stays its own.
        other = register_body(machine_id="machine-0002", name="web-02")
        again = call(agent, people.account.pk, "register", other, token=keys["a"]["secondary"])
        assert again.status_code in (200, 201), again.content
    assert_throttled(bad_heartbeat(agent, people))


@pytest.mark.django_db(transaction=True)  # the long-poll reads the database from another thread
def test_a_valid_long_poll_and_deregistration_get_through_a_throttled_address(agent, people, keys, worker, settings):
    settings.AUTH_FAILURES_PER_MINUTE = 2
    for _ in range(3):
        bad_heartbeat(agent, people)
    assert_throttled(bad_heartbeat(agent, people))

    waited = call(agent, people.account.pk, "jobs/next", {"wait": 0}, token=worker["credential"])
    assert waited.status_code == 200, waited.content
    gone = call(agent, people.account.pk, "deregister", {}, token=worker["credential"])
    assert gone.status_code == 200, gone.content


def test_other_addresses_are_not_throttled_by_one_addresses_failures(agent, people, settings):
    settings.AUTH_FAILURES_PER_MINUTE = 2
    for _ in range(3):
        bad_heartbeat(agent, people)
    assert_throttled(bad_heartbeat(agent, people))

    assert_error(bad_heartbeat(from_address("198.51.100.11"), people), 401, "unauthorized")


def test_bad_secrets_for_one_credential_from_many_addresses_are_throttled_but_not_the_credential(
    agent, people, worker, token, settings
):
    settings.AUTH_FAILURES_PER_MINUTE = 3
    prefix, lookup, _secret = worker["credential"].split("_", 2)
    forged = f"{prefix}_{lookup}_{'A' * 43}"
    token_prefix, token_lookup, _ = token.split("_", 2)
    forged_token = f"{token_prefix}_{token_lookup}_{'A' * 43}"
    for i in range(3):
        assert_error(bad_heartbeat(from_address(f"203.0.113.{i + 1}"), people, forged), 401)
        assert_error(bad_api_call(from_address(f"203.0.113.{i + 101}"), forged_token), 401)

    # A fresh address guessing the same credentials is throttled...
    assert_throttled(bad_heartbeat(from_address("203.0.113.50"), people, forged))
    assert_throttled(bad_api_call(from_address("203.0.113.51"), forged_token))
    # ...a guess at another credential from there is not...
    assert_error(bad_heartbeat(from_address("203.0.113.50"), people), 401, "unauthorized")
    # ...and the real holders are never refused.
    assert call(agent, people.account.pk, "heartbeat", {"facts": {}}, token=worker["credential"]).status_code == 200
    assert bad_api_call(from_address("203.0.113.52"), token).status_code == 200


def test_bad_keys_for_one_account_from_many_addresses_are_throttled_but_not_the_key(people, keys, settings):
    settings.AUTH_FAILURES_PER_MINUTE = 3
    for i in range(3):
        assert_error(bad_register(from_address(f"203.0.113.{i + 1}"), people), 401)

    assert_throttled(bad_register(from_address("203.0.113.50"), people))
    fresh = call(
        from_address("203.0.113.50"), people.account.pk, "register", register_body(), token=keys["a"]["primary"]
    )
    assert fresh.status_code == 201, fresh.content
    # Another account's keys are not throttled by it.
    other = call(from_address("203.0.113.50"), people.other_account.pk, "register", register_body(), token="no")
    assert_error(other, 401, "unauthorized")


# ---- the client's address behind a proxy ---------------------------------------------------------


def test_behind_a_trusted_proxy_each_forwarded_client_is_throttled_on_its_own(people, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.AUTH_FAILURES_PER_MINUTE = 2
    first = from_address(PROXY, **{"X-Forwarded-For": "192.0.2.1"})
    second = from_address(PROXY, **{"X-Forwarded-For": "192.0.2.2"})
    for _ in range(3):
        bad_heartbeat(first, people)
    assert_throttled(bad_heartbeat(first, people))

    assert_error(bad_heartbeat(second, people), 401, "unauthorized")
    assert_error(bad_api_call(second), 401, "unauthorized")


def test_an_untrusted_peers_forwarded_for_is_ignored(people, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.AUTH_FAILURES_PER_MINUTE = 2
    for i in range(3):
        bad_heartbeat(from_address(ADDRESS, **{"X-Forwarded-For": f"192.0.2.{i + 1}"}), people)

    # Claiming yet another address does not escape the block on the real one.
    assert_throttled(bad_heartbeat(from_address(ADDRESS, **{"X-Forwarded-For": "192.0.2.99"}), people))


def test_without_trusted_proxies_forwarded_for_is_ignored(people, settings):
    assert settings.TRUSTED_PROXIES == []
    settings.AUTH_FAILURES_PER_MINUTE = 2
    for i in range(3):
        bad_heartbeat(from_address(PROXY, **{"X-Forwarded-For": f"192.0.2.{i + 1}"}), people)

    assert_throttled(bad_heartbeat(from_address(PROXY, **{"X-Forwarded-For": "192.0.2.99"}), people))


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        # The right-most address no trusted proxy vouches for: what the left-most claims is not believed.
        ("198.51.100.66, 203.0.113.9, 10.1.1.1", "203.0.113.9"),
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8::9, 10.2.2.2", "2001:db8::9"),
        # With the port some load balancers add: the address is still the client's, not the proxy's.
        ("203.0.113.9:5678", "203.0.113.9"),
        ("[2001:db8::9]:443", "2001:db8::9"),
        # Every hop is a trusted proxy: the farthest one is the client.
        ("10.3.3.3, 10.1.1.1", "10.3.3.3"),
        # A hop that is not an address ends the chain at the last proxy that was believed.
        ("203.0.113.9, not-an-address", PROXY),
        ("", PROXY),
    ],
)
def test_the_audit_records_the_forwarded_client_behind_a_trusted_proxy(people, keys, settings, forwarded_for, client):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxy = from_address(PROXY, **{"X-Forwarded-For": forwarded_for})

    response = call(proxy, people.account.pk, "register", register_body(), token=keys["a"]["primary"])

    assert response.status_code == 201, response.content
    assert AuditEvent.objects.get(action="worker.register").source_ip == client

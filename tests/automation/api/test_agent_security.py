"""Agent API authentication: every way to present the wrong secret gets the same kind of 401, and
repeated failures are answered with 429 for a while, while a valid secret always gets through."""

import uuid

import pytest

from automation.models import HybridWorker
from automation.services.actor import Actor
from automation.services.workers import remove_worker
from tests.automation.api.helpers import assert_error, call, register_body, registered, rows

pytestmark = pytest.mark.django_db

OPERATIONS = ["register", "heartbeat", "deregister"]


def body_for(operation: str) -> dict:
    """A body each endpoint would accept, so only the secret decides."""
    return {"register": register_body(), "heartbeat": {"facts": {}}, "deregister": {"machine_id": "machine-0001"}}[
        operation
    ]


def assert_unauthorized(response) -> dict:
    body = assert_error(response, 401, "unauthorized")
    assert response["WWW-Authenticate"].startswith("Bearer")
    return body


@pytest.fixture
def worker_a(agent, people, keys):
    """A worker registered in account A: its registration answer (with its credential)."""
    return registered(agent, people.account, keys["a"]["primary"], machine_id="machine-0001")


@pytest.fixture
def worker_b(agent, people, keys):
    return registered(agent, people.other_account, keys["b"]["primary"], machine_id="machine-b-0001", group="b-lab")


# ---- 401 for every wrong secret, on every endpoint ---------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_request_without_an_authorization_header_is_401(agent, people, keys, worker_a, operation):
    before = rows()
    assert_unauthorized(call(agent, people.account.pk, operation, body_for(operation)))
    assert rows() == before


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", "bearer"])
def test_a_malformed_authorization_header_is_401(agent, people, keys, worker_a, operation, header):
    before = rows()
    response = agent.post(
        f"/agentsvc/accounts/{people.account.pk}/v1/{operation}",
        data=body_for(operation),
        format="json",
        headers={"Authorization": header},
    )
    assert_unauthorized(response)
    assert rows() == before


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_wrong_key_is_401(agent, people, keys, worker_a, operation):
    before = rows()
    wrong = keys["a"]["primary"][:-4] + "AAAA"
    assert_unauthorized(call(agent, people.account.pk, operation, body_for(operation), token=wrong))
    assert rows() == before


@pytest.mark.parametrize("operation", OPERATIONS)
def test_another_accounts_key_is_401(agent, people, keys, worker_a, operation):
    before = rows()
    assert_unauthorized(call(agent, people.account.pk, operation, body_for(operation), token=keys["b"]["primary"]))
    assert_unauthorized(call(agent, people.account.pk, operation, body_for(operation), token=keys["b"]["secondary"]))
    assert rows() == before


@pytest.mark.parametrize("operation", ["register", "deregister"])
def test_an_unknown_account_id_gets_the_same_401_as_a_wrong_key(agent, people, keys, worker_a, operation):
    before = rows()
    unknown = call(agent, uuid.uuid4(), operation, body_for(operation), token=keys["a"]["primary"])
    wrong_key = call(agent, people.account.pk, operation, body_for(operation), token="x" * 64)
    assert assert_unauthorized(unknown) == assert_unauthorized(wrong_key)
    assert unknown["WWW-Authenticate"] == wrong_key["WWW-Authenticate"]
    assert rows() == before


def test_an_unknown_account_id_gets_the_same_401_as_a_wrong_credential(agent, people, keys, worker_a):
    unknown = call(agent, uuid.uuid4(), "heartbeat", {}, token=worker_a["credential"])
    wrong = call(agent, people.account.pk, "heartbeat", {}, token=worker_a["credential"][:-4] + "AAAA")
    assert assert_unauthorized(unknown) == assert_unauthorized(wrong)


@pytest.mark.parametrize("operation", ["heartbeat", "deregister"])
def test_a_credential_with_a_wrong_secret_is_401(agent, people, keys, worker_a, operation):
    before = rows()
    prefix, lookup, _secret = worker_a["credential"].split("_", 2)
    forged = f"{prefix}_{lookup}_{'A' * 43}"
    assert_unauthorized(call(agent, people.account.pk, operation, {}, token=forged))
    assert rows() == before
    assert HybridWorker.objects.filter(pk=worker_a["worker_id"]).exists()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_removed_workers_credential_is_401(agent, people, keys, worker_a, operation):
    remove_worker(account=people.account, worker_id=worker_a["worker_id"], actor=Actor(user=people.operator))
    before = rows()
    assert_unauthorized(call(agent, people.account.pk, operation, body_for(operation), token=worker_a["credential"]))
    assert rows() == before


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_deregistered_workers_credential_is_401(agent, people, keys, worker_a, operation):
    gone = call(agent, people.account.pk, "deregister", {}, token=worker_a["credential"])
    assert gone.status_code == 200, gone.content
    before = rows()
    assert_unauthorized(call(agent, people.account.pk, operation, body_for(operation), token=worker_a["credential"]))
    assert rows() == before


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_worker_credential_of_account_b_is_401_on_account_as_url(agent, people, keys, worker_a, worker_b, operation):
    before = rows()
    response = call(agent, people.account.pk, operation, body_for(operation), token=worker_b["credential"])
    assert_unauthorized(response)
    assert rows() == before
    assert HybridWorker.objects.filter(pk=worker_b["worker_id"]).exists()


def test_a_worker_credential_is_not_an_account_key(agent, people, keys, worker_a):
    before = rows()
    response = call(
        agent,
        people.account.pk,
        "register",
        register_body(machine_id="machine-0002", name="web-02"),
        token=worker_a["credential"],
    )
    assert_unauthorized(response)
    assert rows() == before


def test_an_account_key_is_not_a_worker_credential(agent, people, keys, worker_a):
    assert_unauthorized(call(agent, people.account.pk, "heartbeat", {}, token=keys["a"]["primary"]))


def test_the_401_bodies_say_what_to_do_and_echo_no_secret(agent, people, keys, worker_a):
    key = keys["a"]["primary"]
    bad_key = assert_unauthorized(call(agent, people.account.pk, "register", register_body(), token=key + "x"))
    assert "Keys blade" in bad_key["detail"]
    bad_credential = assert_unauthorized(
        call(agent, people.account.pk, "heartbeat", {}, token=worker_a["credential"] + "x")
    )
    assert "hybridworker register" in bad_credential["detail"]
    for body in (bad_key, bad_credential):
        assert key not in str(body) and worker_a["credential"] not in str(body)


# ---- rate limit (more in test_auth_throttling.py) -------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
def test_after_too_many_failures_a_wrong_secret_gets_429_with_retry_after_and_a_valid_one_gets_through(
    agent, people, keys, worker_a, settings, operation
):
    settings.AUTH_FAILURES_PER_MINUTE = 3
    for _ in range(3):
        assert_unauthorized(call(agent, people.account.pk, operation, body_for(operation), token="wrong"))
    before = rows()
    blocked = call(agent, people.account.pk, operation, body_for(operation), token="wrong")
    body = assert_error(blocked, 429, "too_many_failures")
    assert int(blocked["Retry-After"]) > 0
    assert blocked["Retry-After"] in body["detail"]
    assert rows() == before
    valid = worker_a["credential"] if operation != "register" else keys["a"]["primary"]
    assert call(agent, people.account.pk, operation, body_for(operation), token=valid).status_code == 200
    assert HybridWorker.objects.filter(pk=worker_a["worker_id"]).exists() == (operation != "deregister")


def test_failures_on_different_endpoints_add_up(agent, people, keys, worker_a, settings):
    settings.AUTH_FAILURES_PER_MINUTE = 3
    assert_unauthorized(call(agent, people.account.pk, "register", register_body(), token="wrong"))
    assert_unauthorized(call(agent, people.account.pk, "heartbeat", {}, token="wrong"))
    assert_unauthorized(call(agent, uuid.uuid4(), "deregister", {"machine_id": "machine-0001"}, token="wrong"))
    assert_error(call(agent, people.account.pk, "heartbeat", {}, token="wrong"), 429)


def test_fewer_failures_than_the_limit_do_not_block(agent, people, keys, worker_a, settings):
    settings.AUTH_FAILURES_PER_MINUTE = 3
    for _ in range(3):
        assert_unauthorized(call(agent, people.account.pk, "heartbeat", {}, token="wrong"))


def test_successful_requests_do_not_count_as_failures(agent, people, keys, worker_a, settings):
    settings.AUTH_FAILURES_PER_MINUTE = 2
    for _ in range(5):
        assert call(agent, people.account.pk, "heartbeat", {}, token=worker_a["credential"]).status_code == 200
    for _ in range(2):
        assert_unauthorized(call(agent, people.account.pk, "heartbeat", {}, token="wrong"))


def test_the_block_lifts_when_the_window_ends(agent, people, keys, worker_a, settings):
    from automation.api.throttling import address_key
    from automation.redis_client import redis_client

    settings.AUTH_FAILURES_PER_MINUTE = 2
    for _ in range(2):
        assert_unauthorized(call(agent, people.account.pk, "heartbeat", {}, token="wrong"))
    assert_error(call(agent, people.account.pk, "heartbeat", {}, token="wrong"), 429)
    redis_client(settings.REDIS_URL).delete(address_key("198.51.100.10"))  # what the 60 s expiry does
    assert_unauthorized(call(agent, people.account.pk, "heartbeat", {}, token="wrong"))

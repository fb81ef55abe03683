"""No account key, worker credential or API token appears in a log record, an audit entry, an SQL
statement or an error body while agents register, heartbeat and deregister, keys are regenerated
and authentication fails."""

import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from automation.models import AuditEvent
from automation.services.actor import Actor
from automation.services.keys import reveal_keys
from automation.services.tokens import create_token, revoke_token
from tests.automation.api.helpers import call, register_body

pytestmark = pytest.mark.django_db


class Secrets:
    """Every secret seen in the run: each whole, and the secret part of a prefixed token on its own."""

    def __init__(self):
        self.values: set[str] = set()

    def add(self, value: str) -> str:
        self.values.add(value)
        if value.startswith(("hrw_", "hrwpat_")):
            self.values.add(value.split("_", 2)[2])
        return value

    def found_in(self, text: str) -> list[str]:
        return [s for s in self.values if s in text]


def record_text(record: logging.LogRecord) -> str:
    text = logging.Formatter("%(name)s %(levelname)s %(message)s").format(record)
    return " ".join([text, repr(record.args), repr(getattr(record, "request", "")), repr(record.__dict__)])


def debug_everywhere(caplog) -> None:
    """DEBUG on the root and on every logger configured below it (Django sets "django" to INFO)."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)


def test_secrets_stay_out_of_logs_audit_sql_and_error_bodies(people, keys, agent, caplog):
    debug_everywhere(caplog)
    found = Secrets()
    for account_keys in keys.values():
        for key in account_keys.values():
            found.add(key)
    a, b = people.account.pk, people.other_account.pk
    key_a, key_b = keys["a"]["primary"], keys["b"]["primary"]
    errors: list = []
    quiet: list = []  # successful answers that are not meant to carry a secret

    def expect_error(response, status):
        assert response.status_code == status, response.content
        errors.append(response)

    with CaptureQueriesContext(connection) as queries:
        # Agents register (with either key), renew, heartbeat and deregister.
        first = call(agent, a, "register", register_body(), token=key_a)
        assert first.status_code == 201
        found.add(first.json()["credential"])
        renewed = call(agent, a, "register", register_body(), token=keys["a"]["secondary"])
        assert renewed.status_code == 200
        credential = found.add(renewed.json()["credential"])
        second = call(agent, a, "register", register_body(machine_id="machine-0002", name="web-02"), token=key_a)
        other = call(agent, b, "register", register_body(machine_id="machine-b-0001"), token=key_b)
        found.add(second.json()["credential"])
        other_credential = found.add(other.json()["credential"])
        for _ in range(2):
            quiet.append(call(agent, a, "heartbeat", {"facts": {"os": "Linux", "cpu_count": 2}}, token=credential))

        # Authentication fails in every way, with real secrets in the wrong place.
        expect_error(call(agent, a, "register", register_body(), token=key_b), 401)
        expect_error(call(agent, a, "register", register_body(), token=key_a + "x"), 401)
        expect_error(call(agent, a, "heartbeat", {}, token=other_credential), 401)
        expect_error(call(agent, a, "heartbeat", {}, token=key_a), 401)
        expect_error(call(agent, a, "heartbeat", {}, token=credential + "x"), 401)
        expect_error(call(agent, a, "deregister", {"machine_id": "machine-b-0001"}, token=key_b), 401)
        expect_error(call(agent, a, "deregister", {}, token=other_credential), 401)
        expect_error(call(agent, a, "register", register_body(machine_id="bad id!"), token=key_a), 400)
        expect_error(call(agent, a, "register", "{", token=key_a), 400)
        expect_error(call(agent, a, "register", register_body(machine_id="machine-b-0001"), token=key_a), 409)

        # Owners see and regenerate keys; the old ones fail afterwards.
        owner_token = found.add(
            create_token(user=people.owner, name="ops", expires_days=30, actor=Actor(user=people.owner)).plain
        )
        reveal_keys(account=people.account, actor=Actor(user=people.owner, ip="198.51.100.20"))
        owner = APIClient(headers={"Authorization": f"Bearer {owner_token}"})
        for slot in ("primary", "secondary"):
            response = owner.post(f"/api/v1/accounts/{a}/keys/{slot}/regenerate/")
            assert response.status_code == 200
            found.add(response.json()["key"])
        expect_error(call(agent, a, "register", register_body(machine_id="machine-0003", name="w3"), token=key_a), 401)
        reader_token = found.add(
            create_token(user=people.reader, name="ro", expires_days=None, actor=Actor(user=people.reader)).plain
        )
        reader = APIClient(headers={"Authorization": f"Bearer {reader_token}"})
        expect_error(reader.post(f"/api/v1/accounts/{a}/keys/primary/regenerate/"), 403)
        stranger_token = found.add(
            create_token(user=people.stranger, name="x", expires_days=None, actor=Actor(user=people.stranger)).plain
        )
        stranger = APIClient(headers={"Authorization": f"Bearer {stranger_token}"})
        expect_error(stranger.post(f"/api/v1/accounts/{a}/keys/primary/regenerate/"), 404)
        revoke_token(user=people.reader, token_id=people.reader.api_tokens.get().pk, actor=Actor(user=people.reader))
        expect_error(reader.get("/api/v1/accounts/"), 401)
        expect_error(APIClient(headers={"Authorization": f"Bearer {reader_token}x"}).get("/api/v1/accounts/"), 401)
        expect_error(APIClient(headers={"Authorization": f"Bearer {key_a}"}).get("/api/v1/accounts/"), 401)

        # Workers leave: one with its credential, one with the (still valid) secondary key of B.
        quiet.append(call(agent, a, "deregister", {}, token=credential))
        quiet.append(call(agent, b, "deregister", {"machine_id": "machine-b-0001"}, token=keys["b"]["secondary"]))
        expect_error(call(agent, a, "heartbeat", {}, token=credential), 401)
        for response in quiet:
            assert response.status_code == 200, response.content

    assert len(found.values) >= 20
    logged = [record_text(r) for r in caplog.records]
    assert any("SELECT" in text for text in logged), "SQL is logged at DEBUG, so it was checked too"
    assert any("Unauthorized" in text for text in logged), "refusals are logged, so they were checked too"
    lookup = credential.split("_")[1]
    assert any(lookup in text for text in logged), "query parameters are in the records (the lookup id is no secret)"
    for text in logged:
        assert not found.found_in(text), text
    assert not found.found_in(caplog.text)

    for query in queries.captured_queries:
        assert not found.found_in(query["sql"]), query["sql"]

    audit = list(AuditEvent.objects.values())
    assert {"worker.register", "worker.renew", "keys.reveal", "keys.regenerate", "worker.deregister"} <= {
        e["action"] for e in audit
    }
    for event in audit:
        assert not found.found_in(repr(event)), event

    for response in errors + quiet:
        text = response.content.decode() + repr(dict(response.items()))
        assert not found.found_in(text), text


def test_revealing_keys_is_audited_without_the_keys(people):
    owner = Actor(user=people.owner, ip="198.51.100.20")
    revealed = reveal_keys(account=people.account, actor=owner)
    event = AuditEvent.objects.filter(action="keys.reveal").get()
    assert (event.actor, event.account, event.source_ip) == (people.owner, people.account, "198.51.100.20")
    for key in revealed.values():
        assert key not in repr(AuditEvent.objects.values().get(pk=event.pk))


def test_audit_details_named_like_secrets_are_redacted(people):
    from automation.services.audit import record_event

    event = record_event(
        actor=Actor.for_system(),
        action="test",
        details={"credential": "c", "api_token": "t", "primary_key": "k", "password": "p", "group": "lab"},
    )
    assert event.details == {
        "credential": "[redacted]",
        "api_token": "[redacted]",
        "primary_key": "[redacted]",
        "password": "[redacted]",
        "group": "lab",
    }

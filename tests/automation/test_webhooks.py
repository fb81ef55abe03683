"""Webhooks: made, changed, rotated, extended, signed and deleted by Operators; called by anyone with the URL."""

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings
from django.utils import timezone

from automation.models import AuditEvent, Job, StartedBy, Webhook
from automation.queries.webhooks import last_calls, webhooks_of
from automation.services import jobs as job_services
from automation.services import webhooks as svc
from automation.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.support.assets import SYSTEM, as_, audit_text, stored_text
from tests.support.builders import make_group, make_runbook
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

DECLARED = [
    {"name": "service", "type": "string", "required": True},
    {"name": "password", "type": "secret"},
    {"name": "WebhookData", "type": "json", "required": True},
]
HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "monitor/1.0",
    "Authorization": "Bearer abc",
    "Cookie": "s=1",
}


@pytest.fixture(autouse=True)
def _fresh_redis():
    from django.core.cache import cache

    cache.clear()  # the call counters and refused calls' outcomes are in Redis
    yield
    cache.clear()


@pytest.fixture
def runbook(people):
    make_group(people.account)
    return make_runbook(people.account, "restart", content="echo $1", parameters=DECLARED)


def create(runbook, actor=SYSTEM, **fields):
    fields.setdefault("name", "From monitoring")
    fields.setdefault("run_on", "lab")
    fields.setdefault("parameters", {"service": "nginx", "password": "hunter2-never-shown"})
    return svc.create_webhook(runbook=runbook, actor=actor, **fields)


def token_of(uri: str) -> str:
    return parse_qs(urlsplit(uri).query)["token"][0]


def call(issued_or_webhook, token=None, body=b'{"alert": "disk full"}', headers=None, ip="203.0.113.9"):
    webhook = getattr(issued_or_webhook, "webhook", issued_or_webhook)
    return svc.call_webhook(
        webhook_id=str(webhook.pk),
        token=token if token is not None else token_of(issued_or_webhook.uri),
        body=body,
        headers=HEADERS if headers is None else headers,
        source_ip=ip,
    )


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_an_operator_or_owner_creates_a_webhook_whose_url_is_shown_once(people, runbook, role):
    user = people.by_role[role]
    issued = create(runbook, actor=as_(user))

    parts = urlsplit(issued.uri)
    assert f"{parts.scheme}://{parts.netloc}" == "http://127.0.0.1:8000"
    assert parts.path == f"/webhooks/{issued.webhook.pk}"
    token = token_of(issued.uri)
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    stored = Webhook.objects.get(pk=issued.webhook.pk)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (stored.enabled, stored.run_on, stored.created_by) == (True, "lab", user.username)
    assert stored.parameters == {"service": "nginx", "password": "******"}
    # A year from now by default, as Azure's.
    assert timedelta(days=364) < stored.expiry_time - timezone.now() <= timedelta(days=365)
    assert token not in stored_text() + audit_text()
    assert "hunter2-never-shown" not in stored_text() + audit_text()
    event = AuditEvent.objects.get(action="webhook.create")
    assert (event.actor_name, event.target_name, event.details["runbook"]) == (
        user.username,
        "From monitoring",
        "restart",
    )


@pytest.mark.parametrize(("role", "refusal"), [("reader", PermissionDenied), ("stranger", NotFound)])
def test_a_reader_or_stranger_cannot_create_change_or_delete_one(people, runbook, role, refusal):
    webhook = create(runbook).webhook
    before = state()
    actor = as_(people.by_role[role])
    for attempt in (
        lambda: create(runbook, actor=actor, name="Other"),
        lambda: svc.update_webhook(webhook=webhook, actor=actor, enabled=False),
        lambda: svc.extend_webhook(webhook=webhook, actor=actor, expiry_time="2099-01-01T00:00:00Z"),
        lambda: svc.rotate_webhook_token(webhook=webhook, actor=actor),
        lambda: svc.enable_signing(webhook=webhook, actor=actor),
        lambda: svc.disable_signing(webhook=webhook, actor=actor),
        lambda: svc.delete_webhook(webhook=webhook, actor=actor),
    ):
        with pytest.raises(refusal):
            attempt()
    assert state() == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "bad\x00name"}, "name"),
        ({"name": ""}, "name"),
        ({"run_on": "nowhere"}, "run_on"),
        ({"enabled": "yes"}, "enabled"),
        ({"signed": 1}, "signed"),
        ({"expiry_time": "2001-01-01T00:00:00Z"}, "expiry_time"),
        ({"expiry_time": "2099-01-01T00:00:00"}, "expiry_time"),
        ({"expiry_time": "tomorrow"}, "expiry_time"),
        ({"parameters": {}}, "service"),
        ({"parameters": {"service": 3}}, "service"),
        ({"parameters": {"service": "a", "nope": 1}}, "nope"),
        ({"parameters": {"service": "a", "WebhookData": {}}}, "WebhookData"),
        ({"parameters": ["service"]}, "parameters"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(runbook, fields, field):
    before = state()
    with pytest.raises(InvalidInput) as refused:
        create(runbook, **fields)
    assert refused.value.field == field
    assert state() == before


def test_names_are_unique_per_runbook_ignoring_case(people, runbook):
    create(runbook)
    with pytest.raises(Conflict):
        create(runbook, name="FROM MONITORING")
    other = make_runbook(people.account, "other", parameters=[])
    create(other, parameters={})  # another runbook's webhook may share the name


def test_a_call_queues_a_job_started_by_the_webhook_with_its_fixed_parameters_and_webhook_data(people, runbook):
    issued = create(runbook)
    job = call(issued)

    job = Job.objects.select_related("version", "account").get(pk=job.pk)
    assert (job.started_by_kind, job.started_by, job.webhook_id) == (
        StartedBy.WEBHOOK,
        "From monitoring",
        issued.webhook.pk,
    )
    assert (job.runbook_name, job.group_name, job.status) == ("restart", "lab", "Queued")
    assert job.parameters == {"service": "nginx", "password": "******"}
    assert b"disk full" not in json.dumps(job.parameters).encode()
    assert "disk full" not in stored_text()  # sealed: the body may carry the caller's secrets
    payload = job_services.job_for_agent(job)
    expected = {
        "WebhookName": "From monitoring",
        "RequestBody": '{"alert": "disk full"}',
        "RequestHeader": {"Content-Type": "application/json", "User-Agent": "monitor/1.0"},
    }
    assert payload["webhook_data"] == expected
    # Declared by the runbook: a named argument too, as Azure passes it.
    assert payload["parameters"] == {"service": "nginx", "password": "hunter2-never-shown", "WebhookData": expected}
    events = {e.action: e for e in AuditEvent.objects.filter(action__in=["webhook.call", "job.start"])}
    assert events["webhook.call"].details == {"runbook": "restart", "job": str(job.pk), "source_ip": "203.0.113.9"}
    assert events["webhook.call"].source_ip == "203.0.113.9"
    assert events["job.start"].actor_name == "webhook From monitoring"
    assert token_of(issued.uri) not in audit_text() + stored_text()
    webhook = Webhook.objects.get(pk=issued.webhook.pk)
    assert webhook.last_called_at == job.queued_at
    assert last_calls([webhook])[webhook.pk].accepted


def test_a_runbook_that_does_not_declare_webhook_data_gets_it_in_the_payload_only(people, runbook):
    plain = make_runbook(people.account, "plain", parameters=[{"name": "service", "type": "string"}])
    issued = create(plain, parameters={"service": "web"})
    job = Job.objects.select_related("version", "account").get(pk=call(issued).pk)
    payload = job_services.job_for_agent(job)
    assert payload["parameters"] == {"service": "web"}
    assert payload["webhook_data"]["RequestBody"] == '{"alert": "disk full"}'
    assert (
        job_services.job_for_agent(
            Job.objects.select_related("version", "account").get(
                pk=job_services.start_job(
                    account=people.account, runbook_name="plain", group_name="lab", actor=SYSTEM
                ).pk
            )
        )["webhook_data"]
        is None
    )


@override_settings(WEBHOOK_REDACTED_HEADERS=["X-Secret-Thing", "authorization"])
def test_the_redacted_headers_are_a_setting_compared_ignoring_case(runbook):
    issued = create(runbook)
    headers = {"X-Secret-Thing": "s3cr3t", "Authorization": "Bearer x", "Cookie": "c=1", "Accept": "*/*"}
    job = Job.objects.select_related("version", "account").get(pk=call(issued, headers=headers).pk)
    assert job_services.webhook_data(job)["RequestHeader"] == {"Cookie": "c=1", "Accept": "*/*"}


def refused_alike(attempt) -> str:
    before = state()
    with pytest.raises(svc.WebhookRefused) as refused:
        attempt()
    assert state() == before
    assert refused.value.status == 400
    return refused.value.detail


def test_an_unknown_id_or_token_a_disabled_and_an_expired_webhook_get_one_same_answer_and_write_nothing(runbook):
    issued = create(runbook)
    token = token_of(issued.uri)
    disabled = create(runbook, name="Disabled", enabled=False)
    expired = create(runbook, name="Expired")
    Webhook.objects.filter(pk=expired.webhook.pk).update(expiry_time=timezone.now() - timedelta(seconds=1))

    answers = {
        refused_alike(lambda: call(issued, token="x" * 43)),
        refused_alike(lambda: call(issued, token="")),
        refused_alike(
            lambda: svc.call_webhook(webhook_id="not-a-uuid", token=token, body=b"", headers={}, source_ip=None)
        ),
        refused_alike(
            lambda: svc.call_webhook(
                webhook_id="00000000-0000-0000-0000-000000000000", token=token, body=b"", headers={}, source_ip=None
            )
        ),
        refused_alike(lambda: call(disabled)),
        refused_alike(lambda: call(expired)),
    }
    assert answers == {svc.REFUSED}
    assert not Job.objects.exists()


@override_settings(WEBHOOK_MAX_BODY_BYTES=1024)
def test_a_body_over_the_limit_is_413_and_writes_nothing(runbook):
    issued = create(runbook)
    before = state()
    with pytest.raises(svc.BodyTooLarge) as refused:
        call(issued, body=b"x" * 1025)
    assert refused.value.status == 413
    assert state() == before
    call(issued, body=b"x" * 1024)


@override_settings(WEBHOOK_CALLS_PER_MINUTE=2)
def test_a_webhook_called_faster_than_its_limit_is_429_with_retry_after_and_writes_nothing(runbook):
    issued = create(runbook)
    other = create(runbook, name="Other")
    call(issued)
    call(issued)
    before = state()
    with pytest.raises(svc.TooManyCalls) as refused:
        call(issued)
    assert refused.value.status == 429
    assert 0 < refused.value.retry_after <= 60
    assert state() == before
    call(other)  # the limit is per webhook
    webhook = Webhook.objects.get(pk=issued.webhook.pk)
    last = last_calls([webhook])[webhook.pk]
    assert (last.accepted, last.outcome.startswith("Refused (429)")) == (False, True)


def test_a_runbook_with_no_published_version_is_404_and_writes_nothing(people):
    make_group(people.account)
    draft = make_runbook(people.account, "draft only", publish=False)
    issued = svc.create_webhook(runbook=draft, actor=SYSTEM, name="Early", run_on="lab")
    before = state()
    with pytest.raises(NotFound):
        call(issued)
    assert state() == before


def test_a_body_that_is_not_utf8_is_refused_and_writes_nothing(runbook):
    issued = create(runbook)
    before = state()
    with pytest.raises(InvalidInput):
        call(issued, body=b"\xff\xfe")
    assert state() == before


def test_parameters_that_no_longer_fit_the_published_version_are_a_conflict_naming_the_fix(people, runbook):
    from automation.services.runbooks import publish_runbook, update_draft

    issued = create(runbook)
    update_draft(
        runbook=runbook, actor=SYSTEM, parameters=[*DECLARED, {"name": "zone", "type": "string", "required": True}]
    )
    publish_runbook(runbook=runbook, actor=SYSTEM)
    before = state()
    with pytest.raises(Conflict) as refused:
        call(issued)
    assert "zone" in refused.value.detail
    assert state() == before


def test_rotating_stops_the_old_url_at_once_and_the_new_one_works(runbook):
    issued = create(runbook)
    rotated = svc.rotate_webhook_token(webhook=issued.webhook, actor=SYSTEM)
    assert rotated.uri != issued.uri
    refused_alike(lambda: call(issued))
    call(rotated)
    assert token_of(rotated.uri) not in audit_text() + stored_text()
    assert AuditEvent.objects.filter(action="webhook.rotate").count() == 1


def test_an_expired_webhook_extended_works_again_and_a_past_expiry_is_refused(runbook):
    issued = create(runbook)
    Webhook.objects.filter(pk=issued.webhook.pk).update(expiry_time=timezone.now() - timedelta(days=1))
    refused_alike(lambda: call(issued))
    with pytest.raises(InvalidInput):
        svc.extend_webhook(webhook=issued.webhook, actor=SYSTEM, expiry_time="2000-01-01T00:00:00Z")
    svc.extend_webhook(webhook=issued.webhook, actor=SYSTEM, expiry_time="2099-06-30T12:00:00+02:00")
    assert Webhook.objects.get(pk=issued.webhook.pk).expiry_time.isoformat() == "2099-06-30T10:00:00+00:00"
    call(issued)


def test_updates_change_what_is_named_and_keep_a_secret_sent_back_masked(people, runbook):
    make_group(people.account, "prod")
    issued = create(runbook)
    svc.update_webhook(
        webhook=issued.webhook,
        actor=SYSTEM,
        name="Renamed",
        enabled=False,
        run_on="prod",
        parameters={"service": "apache", "password": "******"},
    )
    refused_alike(lambda: call(issued))
    svc.update_webhook(webhook=issued.webhook, actor=SYSTEM, enabled=True)
    job = Job.objects.select_related("version", "account").get(pk=call(issued).pk)
    assert (job.group_name, job.started_by) == ("prod", "Renamed")
    assert job_services.job_for_agent(job)["parameters"]["password"] == "hunter2-never-shown"
    assert job.parameters == {"service": "apache", "password": "******"}
    event = AuditEvent.objects.filter(action="webhook.update").order_by("created_at", "pk").first()
    assert set(event.details["changed"]) == {"name", "enabled", "parameters", "run_on"}


def sign(secret: str, body: bytes, *, stamp=None, message_id="msg_1") -> dict:
    stamp = str(int(time.time()) if stamp is None else stamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": stamp,
        "webhook-signature": f"v1,{base64.b64encode(digest).decode()}",
    }


def test_a_signed_webhook_takes_only_calls_signed_with_its_secret_in_time(runbook):
    issued = create(runbook, signed=True)
    secret = issued.signing_secret
    assert secret.startswith("whsec_")
    assert secret not in stored_text() + audit_text()
    body = b'{"alert": "cpu"}'
    for headers in (
        {},
        sign(secret, body + b" "),
        sign("whsec_" + base64.b64encode(b"k" * 32).decode(), body),
        sign(secret, body, stamp=int(time.time()) - 301),
        sign(secret, body, stamp="soon"),
    ):
        before = state()
        with pytest.raises(svc.BadSignature):
            call(issued, body=body, headers=headers)
        assert state() == before
    headers = sign(secret, body)
    headers["webhook-signature"] = "v1,bm9wZQ== " + headers["webhook-signature"]  # one of several may match
    call(issued, body=body, headers=headers)
    # A new secret replaces the old; disabled, calls need none.
    renewed = svc.enable_signing(webhook=issued.webhook, actor=SYSTEM).signing_secret
    with pytest.raises(svc.BadSignature):
        call(issued, body=body, headers=sign(secret, body))
    call(issued, body=body, headers=sign(renewed, body))
    svc.disable_signing(webhook=issued.webhook, actor=SYSTEM)
    call(issued, body=body, headers={})


def test_deleting_a_webhook_stops_its_url_and_keeps_its_jobs(runbook):
    issued = create(runbook)
    job = call(issued)
    svc.delete_webhook(webhook=issued.webhook, actor=SYSTEM)
    refused_alike(lambda: call(issued))
    assert Job.objects.get(pk=job.pk).started_by == "From monitoring"
    assert AuditEvent.objects.filter(action="webhook.delete").count() == 1


def test_the_list_for_a_blade_costs_one_query_and_one_redis_round_trip(people, runbook, django_assert_num_queries):
    for index in range(5):
        create(runbook, name=f"Hook {index}")
    with django_assert_num_queries(1):
        hooks = list(webhooks_of(runbook))
        calls = last_calls(hooks)
        assert [h.signed for h in hooks] == [False] * 5
    assert calls == {h.pk: None for h in hooks}

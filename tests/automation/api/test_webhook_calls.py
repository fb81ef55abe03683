"""POST /webhooks/<id>?token=<token>: any body, no other credential; 202 with the job, or a JSON refusal."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from automation.models import Job, Webhook
from automation.services import jobs as job_services
from automation.services import webhooks as svc
from tests.automation.api.helpers import assert_error
from tests.automation.api.test_secrets import debug_everywhere, record_text
from tests.support.assets import SYSTEM, audit_text
from tests.support.builders import make_group, make_runbook
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def issued(people):
    make_group(people.account)
    runbook = make_runbook(people.account, "echo body", parameters=[{"name": "WebhookData", "type": "json"}])
    return svc.create_webhook(runbook=runbook, actor=SYSTEM, name="Monitor", run_on="lab")


@pytest.fixture
def caller():
    return Client(REMOTE_ADDR="203.0.113.50")


def path_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.path}?{parts.query}"


def test_a_call_answers_202_with_the_job_id_and_its_location(people, issued, caller):
    body = "<alert severity='high'>disk full</alert>"
    response = caller.post(path_of(issued.uri), data=body, content_type="application/xml", HTTP_X_API_KEY="k-123")

    assert response.status_code == 202, response.content
    job_id = response.json()["JobIds"][0]
    assert response.json() == {"JobIds": [job_id]}
    assert response["Location"] == f"http://127.0.0.1:8000/api/v1/accounts/{people.account.pk}/jobs/{job_id}/"
    job = Job.objects.select_related("account").get(pk=job_id)
    data = job_services.webhook_data(job)
    assert data["RequestBody"] == body
    assert data["RequestHeader"]["Content-Type"] == "application/xml"
    assert "X-Api-Key" not in data["RequestHeader"]
    assert Webhook.objects.get(pk=issued.webhook.pk).last_outcome == f"Started job {job_id}"


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded", "text/plain"])
def test_any_body_is_kept_as_sent(issued, caller, content_type):
    body = {"application/json": '{"a": [1, 2]}', "text/plain": "just text\n"}.get(content_type, "a=1&b=%20x")
    response = caller.post(path_of(issued.uri), data=body, content_type=content_type)
    assert response.status_code == 202, response.content
    job = Job.objects.select_related("account").get(pk=response.json()["JobIds"][0])
    assert job_services.webhook_data(job)["RequestBody"] == body


def test_an_empty_body_and_a_trailing_slash_are_fine(issued, caller):
    parts = urlsplit(issued.uri)
    assert caller.post(f"{parts.path}/?{parts.query}").status_code == 202


def test_wrong_token_unknown_id_disabled_and_expired_get_one_same_400_and_write_nothing(people, issued, caller):
    disabled = svc.create_webhook(runbook=issued.webhook.runbook, actor=SYSTEM, name="Off", run_on="lab", enabled=False)
    expired = svc.create_webhook(runbook=issued.webhook.runbook, actor=SYSTEM, name="Old", run_on="lab")
    Webhook.objects.filter(pk=expired.webhook.pk).update(expiry_time=timezone.now() - timedelta(minutes=1))
    good = urlsplit(issued.uri)
    before = state()
    bodies = []
    for path in (
        f"{good.path}?token=wrong",
        good.path,
        f"/webhooks/00000000-0000-0000-0000-000000000000?{good.query}",
        f"/webhooks/not-an-id?{good.query}",
        path_of(disabled.uri),
        path_of(expired.uri),
    ):
        bodies.append(
            assert_error(caller.post(path, data="{}", content_type="application/json"), 400, "webhook_refused")
        )
    assert all(body == bodies[0] for body in bodies)
    assert state() == before


def test_guessing_ends_in_429_for_the_guessers_address_while_others_still_call(issued, caller, settings):
    settings.AUTH_FAILURES_PER_MINUTE = 3
    path = urlsplit(issued.uri).path + "?token=guess"
    for _ in range(3):
        assert_error(caller.post(path), 400, "webhook_refused")
    response = caller.post(path)
    assert_error(response, 429, "too_many_failures")
    assert int(response["Retry-After"]) > 0
    assert Client(REMOTE_ADDR="203.0.113.99").post(path_of(issued.uri)).status_code == 202


@override_settings(WEBHOOK_MAX_BODY_BYTES=2048)
def test_a_body_over_the_limit_is_413_and_writes_nothing(issued, caller):
    before = state()
    assert_error(caller.post(path_of(issued.uri), data="x" * 2049, content_type="text/plain"), 413, "payload_too_large")
    assert state() == before


@override_settings(WEBHOOK_CALLS_PER_MINUTE=1)
def test_a_call_over_the_rate_is_429_with_retry_after(issued, caller):
    assert caller.post(path_of(issued.uri)).status_code == 202
    before = state()
    response = caller.post(path_of(issued.uri))
    assert_error(response, 429, "too_many_calls")
    assert 0 < int(response["Retry-After"]) <= 60
    assert state() == before


def test_an_unpublished_runbook_is_404(people, caller):
    make_group(people.account)
    draft = make_runbook(people.account, "draft", publish=False)
    issued = svc.create_webhook(runbook=draft, actor=SYSTEM, name="Early", run_on="lab")
    before = state()
    assert_error(caller.post(path_of(issued.uri)), 404, "not_found")
    assert state() == before


def test_only_post_calls_a_webhook(issued, caller):
    response = caller.get(path_of(issued.uri))
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"
    assert not Job.objects.exists()


def test_unknown_paths_under_webhooks_answer_json(caller):
    assert_error(caller.post("/webhooks/"), 404, "not_found")
    assert_error(caller.post("/webhooks/a/b"), 404, "not_found")


def test_the_token_is_in_no_log_line_answer_or_audit_entry(issued, caller, caplog):
    debug_everywhere(caplog)
    token = urlsplit(issued.uri).query.removeprefix("token=")
    answers = [caller.post(path_of(issued.uri), data="hello", content_type="text/plain")]
    Webhook.objects.filter(pk=issued.webhook.pk).update(enabled=False)
    answers.append(caller.post(path_of(issued.uri)))
    answers.append(caller.post(path_of(issued.uri).replace("token=", "token=x")))
    assert [a.status_code for a in answers] == [202, 400, 400]
    texts = [a.content.decode() + repr(a.headers) for a in answers]
    texts += [record_text(r) for r in caplog.records] + [audit_text()]
    assert not [t for t in texts if token in t]

"""A runbook's webhooks in the portal: the runbook blade's Webhooks section, Add webhook (the URL and the signing
secret shown once, then on no page, log line or Activity log entry), a webhook's properties blade, Extend, Rotate,
signing on and off, and Delete, for every role; bad input names its field and writes nothing."""

import json
import logging
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from automation.models import AuditEvent, Webhook
from automation.services import crypto
from automation.services.actor import Actor
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.webhooks import (
    BadSignature,
    WebhookRefused,
    call_webhook,
    create_webhook,
    update_webhook,
)
from automation.services.workers import register_worker
from tests.support.htmx import htmx_headers
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SYSTEM = Actor.for_system()
ROLES = ["owner", "operator", "reader", "stranger"]
DECLARED = [
    {"name": "service", "type": "string", "required": True},
    {"name": "count", "type": "int", "default": 3},
    {"name": "force", "type": "bool", "default": False},
    {"name": "password", "type": "secret"},
    {"name": "WebhookData", "type": "json"},
]
SECRET = "Param-Secret-5e1d"
LATER = "2099-01-01T00:00"


@pytest.fixture
def book(people):
    runbook = create_runbook(
        account=people.account,
        name="restart",
        runbook_type="python3",
        content="print('hi')",
        parameters=DECLARED,
        actor=SYSTEM,
    )
    publish_runbook(runbook=runbook, actor=SYSTEM)
    for group in ("lab", "dmz"):
        register_worker(
            account=people.account, group_name=group, machine_id=f"machine-{group}", name=f"{group}-01", facts={}
        )
    return runbook


def hook(book, name="Monitor", **fields):
    values = {"service": "nginx", "password": SECRET}
    return create_webhook(runbook=book, actor=SYSTEM, name=name, run_on="lab", parameters=values, **fields)


def url(people, route, book, webhook=None) -> str:
    args = [people.account.pk, book.pk] + ([webhook.pk] if webhook is not None else [])
    return reverse(f"portal:{route}", args=args)


def blade(people, book) -> str:
    return reverse("portal:runbook", args=[people.account.pk, book.pk])


def token_of(uri: str) -> str:
    return uri.rpartition("token=")[2]


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def row(html: str, name: str) -> str:
    found = re.search(rf'<tr data-webhook="{re.escape(name)}">(.*?)</tr>', html, re.S)
    assert found, f"no row {name}"
    return text(found.group(1))


def field_errors(html: str, name: str) -> list[str]:
    for block in re.findall(r'<div class="field">(.*?)</div>', html, re.S):
        if f'name="{name}"' in block:
            errors = re.search(r'<ul class="errors">(.*?)</ul>', block, re.S)
            return re.findall(r"<li>(.*?)</li>", errors.group(1)) if errors else []
    raise AssertionError(f"no field {name}")


def create_body(**changes) -> dict:
    body = {
        "name": "From monitoring",
        "enabled": "on",
        "expiry_time": LATER,
        "param_service": "nginx",
        "param_count": "7",
        "param_force": "true",
        "param_password": SECRET,
        "run_on": "dmz",
    }
    body.update(changes)
    return {name: value for name, value in body.items() if value is not None}


# ---- who may do what ------------------------------------------------------------------------------------

# (route, method): status for owner, operator, reader, stranger
ANSWERS = {
    ("webhook_add", "get"): (200, 200, 403, 404),
    ("webhook_add", "post"): (200, 200, 403, 404),
    ("webhook", "get"): (200, 200, 200, 404),
    ("webhook", "post"): (302, 302, 403, 404),
    ("webhook_extend", "get"): (200, 200, 403, 404),
    ("webhook_extend", "post"): (302, 302, 403, 404),
    ("webhook_rotate", "get"): (200, 200, 403, 404),
    ("webhook_rotate", "post"): (200, 200, 403, 404),
    ("webhook_signing", "get"): (200, 200, 403, 404),
    ("webhook_signing", "post"): (200, 200, 403, 404),
    ("webhook_delete", "get"): (200, 200, 403, 404),
    ("webhook_delete", "post"): (302, 302, 403, 404),
}
BODIES = {
    "webhook_add": create_body(),
    "webhook": {"enabled": "", "param_service": "apache", "param_password": "******", "run_on": "lab"},
    "webhook_extend": {"expiry_time": LATER},
    "webhook_signing": {"signing": "on"},
}


@pytest.mark.parametrize(("route", "method"), list(ANSWERS))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_answer_its_role_allows(people, client_for, book, route, method, role):
    webhook = hook(book).webhook
    client = client_for(people.by_role[role])
    target = url(people, route, book, None if route == "webhook_add" else webhook)
    before = state()

    response = client.get(target) if method == "get" else client.post(target, BODIES.get(route, {}))

    expected = ANSWERS[(route, method)][ROLES.index(role)]
    assert response.status_code == expected, response.content.decode()[:500]
    if expected in (403, 404):
        assert state() == before
    if expected == 404:
        assert b"contoso-automation" not in response.content and b"Monitor" not in response.content
    if method == "post" and expected != 403 and expected != 404:
        assert state() != before


@pytest.mark.parametrize("route", [r for r, m in ANSWERS if r != "webhook_add"])
def test_a_webhook_is_not_found_under_another_runbook_or_account(people, client_for, book, route):
    webhook = hook(book).webhook
    other = create_runbook(account=people.account, name="other", runbook_type="bash", content="", actor=SYSTEM)
    client = client_for(people.owner)
    before = state()

    for target in (
        url(people, route, other, webhook),
        reverse(f"portal:{route}", args=[people.other_account.pk, book.pk, webhook.pk]),
    ):
        assert client.get(target).status_code == 404
        assert client.post(target, BODIES.get(route, {})).status_code == 404
    assert state() == before


# ---- the runbook blade's Webhooks section -----------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "operator", "reader"])
def test_the_runbook_blade_lists_its_webhooks_with_status_expiry_last_call_and_run_on(people, client_for, book, role):
    called = hook(book, "Called")
    job = call_webhook(webhook_id=called.webhook.pk, token=token_of(called.uri), body=b"{}", headers={}, source_ip=None)
    update_webhook(webhook=hook(book, "Off").webhook, actor=SYSTEM, enabled=False)
    Webhook.objects.filter(pk=hook(book, "Old").webhook.pk).update(expiry_time=timezone.now() - timedelta(days=1))
    signed = hook(book, "Signed", signed=True)
    with pytest.raises(BadSignature):
        call_webhook(webhook_id=signed.webhook.pk, token=token_of(signed.uri), body=b"", headers={}, source_ip=None)

    html = client_for(people.by_role[role]).get(blade(people, book)).content.decode()

    assert re.findall(r'<tr data-webhook="([^"]+)"', html) == ["Called", "Off", "Old", "Signed"]
    assert "Enabled" in row(html, "Called") and "Started job" in row(html, "Called")
    assert str(job.pk)[:8] in row(html, "Called") and "lab" in row(html, "Called")
    assert reverse("portal:job", args=[people.account.pk, job.pk]) in html
    assert "Disabled" in row(html, "Off") and "Never" in row(html, "Off")
    assert "Expired" in row(html, "Old")
    assert "Signed" in row(html, "Signed") and "Refused (401)" in row(html, "Signed")
    add = url(people, "webhook_add", book)
    assert (add in html) is (role != "reader"), "only Operators and Owners are offered Add webhook"


def test_a_runbook_with_no_webhook_says_so(people, client_for, book):
    html = client_for(people.operator).get(blade(people, book)).content.decode()

    assert "No webhooks yet." in html and "Add webhook makes a URL" in html


# ---- Add webhook ------------------------------------------------------------------------------------------


def test_the_add_dialog_asks_for_the_published_parameters_but_not_webhookdata(people, client_for, book):
    html = client_for(people.operator).get(url(people, "webhook_add", book), headers=htmx_headers(True))
    html = html.content.decode()

    names = re.findall(r'name="([a-z_A-Z]+)"', html)
    assert names[1:] == [
        "name",
        "enabled",
        "expiry_time",
        "param_service",
        "param_count",
        "param_force",
        "param_password",
        "run_on",
        "signed",
    ]
    assert "param_WebhookData" not in html and "WebhookData is filled by each call" in html
    assert 'type="password"' in html and 'type="datetime-local"' in html
    # A year from now, by default.
    shown = re.search(r'name="expiry_time" value="([^"]+)"', html).group(1)
    assert shown[:10] == timezone.localtime(timezone.now() + timedelta(days=365)).strftime("%Y-%m-%d")
    assert '<option value="dmz">' in html and '<option value="lab">' in html


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_create_shows_the_url_once_and_it_is_never_seen_again(people, client_for, book, caplog, htmx):
    client = client_for(people.operator)
    caplog.set_level(logging.DEBUG)

    response = client.post(url(people, "webhook_add", book), create_body(), headers=htmx_headers(htmx))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    uri = re.search(r'<code id="webhook-url">([^<]+)</code>', html).group(1).replace("&amp;", "&")
    token = token_of(uri)
    webhook = Webhook.objects.get()
    assert uri.startswith("http") and f"/webhooks/{webhook.pk}?token=" in uri
    assert webhook.token_hash == crypto.hash_secret(token) and len(token) >= 43
    assert "Copy the URL now: you cannot see it again." in html
    assert 'data-copy="#webhook-url"' in html and "webhook-secret" not in html
    assert webhook.name == "From monitoring" and webhook.run_on == "dmz" and webhook.enabled
    assert webhook.parameters == {"service": "nginx", "count": 7, "force": True, "password": "******"}
    assert SECRET not in html

    # Every later page, the Activity log, the log lines: none has the token.
    later = [
        blade(people, book),
        url(people, "webhook", book, webhook),
        reverse("portal:activity", args=[people.account.pk]),
        reverse("portal:runbooks", args=[people.account.pk]),
    ]
    for page in later:
        shown = client.get(page).content.decode()
        assert token not in shown and "token=" not in shown, page
    assert "From monitoring" in client.get(blade(people, book)).content.decode()
    audit = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "webhook.create" in audit and token not in audit and SECRET not in audit
    assert token not in caplog.text and SECRET not in caplog.text


def test_create_with_signing_shows_the_secret_once(people, client_for, book):
    client = client_for(people.owner)

    html = client.post(url(people, "webhook_add", book), create_body(signed="on")).content.decode()

    secret = re.search(r'<code id="webhook-secret">([^<]+)</code>', html).group(1)
    assert secret.startswith("whsec_") and Webhook.objects.get().signed
    assert "Copy the signing secret now: you cannot see it again." in html
    page = client.get(url(people, "webhook", book, Webhook.objects.get())).content.decode()
    assert secret not in page and "Required" in page
    assert secret not in json.dumps(list(AuditEvent.objects.values()), default=str)


BAD_INPUT = [
    ("name", {"name": ""}, "This field is required."),
    ("name", {"name": "no/slash"}, "Names"),
    ("expiry_time", {"expiry_time": "tomorrow"}, "Enter a valid date/time."),
    ("expiry_time", {"expiry_time": "2001-01-01T00:00"}, "expiry_time must be in the future."),
    ("param_service", {"param_service": ""}, "service"),
    ("param_count", {"param_count": "seven"}, "count"),
    ("param_force", {"param_force": "maybe"}, "Select a valid choice."),
    ("run_on", {"run_on": "nowhere"}, "Select a valid choice."),
]


@pytest.mark.parametrize(
    ("field", "changes", "said"), BAD_INPUT, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD_INPUT)]
)
def test_bad_input_names_its_field_and_writes_nothing(people, client_for, book, field, changes, said):
    client = client_for(people.operator)
    before = state()

    response = client.post(url(people, "webhook_add", book), create_body(**changes), headers=htmx_headers(True))

    assert response.status_code == 400
    errors = field_errors(response.content.decode(), field)
    assert errors and said in " ".join(errors), errors
    assert state() == before
    # A secret typed in is not shown back.
    assert SECRET not in response.content.decode()


def test_a_name_taken_in_the_runbook_is_refused_whatever_its_case(people, client_for, book):
    hook(book, "From Monitoring")
    before = state()

    response = client_for(people.operator).post(url(people, "webhook_add", book), create_body())

    assert response.status_code == 400
    assert "has a webhook named" in response.content.decode()
    assert state() == before


def test_without_a_group_the_dialog_says_how_to_get_one(people, client_for):
    runbook = create_runbook(account=people.account, name="solo", runbook_type="bash", content="", actor=SYSTEM)
    before = state()

    response = client_for(people.operator).post(url(people, "webhook_add", runbook), {"name": "x"})

    assert "There is no hybrid worker group" in response.content.decode()
    assert state() == before


# ---- the properties blade -----------------------------------------------------------------------------------


def test_a_reader_sees_the_properties_with_no_form_and_no_commands(people, client_for, book):
    webhook = hook(book).webhook

    html = client_for(people.reader).get(url(people, "webhook", book, webhook)).content.decode()

    assert "Monitor" in html and "nginx" in html and "******" in html and SECRET not in html
    assert 'id="webhook-form"' not in html
    for route in ("webhook_extend", "webhook_rotate", "webhook_signing", "webhook_delete"):
        assert url(people, route, book, webhook) not in html


def test_an_operator_changes_enabled_parameters_and_run_on_and_a_masked_secret_is_kept(people, client_for, book):
    issued = hook(book)
    client = client_for(people.operator)
    page = url(people, "webhook", book, issued.webhook)
    html = client.get(page).content.decode()
    assert 'name="param_password" value="******"' in html and SECRET not in html
    assert 'name="param_count" value="3"' in html

    body = {"param_service": "apache", "param_count": "9", "param_force": "false", "param_password": "******"}
    response = client.post(page, {**body, "run_on": "dmz"})

    assert response.status_code == 302 and response["Location"] == page
    webhook = Webhook.objects.get()
    assert not webhook.enabled and webhook.run_on == "dmz"
    assert webhook.parameters == {"service": "apache", "count": 9, "force": False, "password": "******"}
    assert json.loads(crypto.decrypt(webhook.secret_parameters)) == {"password": SECRET}
    shown = client.get(page).content.decode()
    assert "Disabled" in shown and "Saved webhook Monitor." in shown
    with pytest.raises(WebhookRefused):  # disabled
        call_webhook(webhook_id=webhook.pk, token=token_of(issued.uri), body=b"", headers={}, source_ip=None)


def test_bad_properties_name_their_field_and_change_nothing(people, client_for, book):
    webhook = hook(book).webhook
    before = state()

    response = client_for(people.operator).post(
        url(people, "webhook", book, webhook),
        {"enabled": "on", "param_service": "", "param_password": "typed-new", "run_on": "lab"},
    )

    assert response.status_code == 400
    assert field_errors(response.content.decode(), "param_service")
    assert "typed-new" not in response.content.decode()
    assert state() == before


# ---- Extend, Rotate, signing, Delete -------------------------------------------------------------------------


def test_extend_brings_an_expired_webhook_back_with_the_same_url(people, client_for, book):
    issued = hook(book)
    Webhook.objects.filter(pk=issued.webhook.pk).update(expiry_time=timezone.now() - timedelta(days=1))
    client = client_for(people.operator)
    page = client.get(url(people, "webhook", book, issued.webhook)).content.decode()
    assert "This webhook expired" in page
    assert "expired on" in client.get(url(people, "webhook_extend", book, issued.webhook)).content.decode()

    response = client.post(url(people, "webhook_extend", book, issued.webhook), {"expiry_time": LATER})

    assert response.status_code == 302
    assert Webhook.objects.get().expiry_time.year == 2099
    call_webhook(webhook_id=issued.webhook.pk, token=token_of(issued.uri), body=b"", headers={}, source_ip=None)


def test_extend_to_the_past_is_refused_and_changes_nothing(people, client_for, book):
    webhook = hook(book).webhook
    before = state()

    response = client_for(people.operator).post(
        url(people, "webhook_extend", book, webhook), {"expiry_time": "2001-01-01T00:00"}, headers=htmx_headers(True)
    )

    assert response.status_code == 400
    assert field_errors(response.content.decode(), "expiry_time") == ["expiry_time must be in the future."]
    assert state() == before


def test_rotate_warns_then_shows_the_new_url_once_and_the_old_one_stops(people, client_for, book):
    issued = hook(book)
    client = client_for(people.operator)
    target = url(people, "webhook_rotate", book, issued.webhook)
    assert "The current URL stops working at once" in client.get(target).content.decode()

    response = client.post(target, headers=htmx_headers(True))

    html = response.content.decode()
    assert "no-store" in response["Cache-Control"]
    new = re.search(r'<code id="webhook-url">([^<]+)</code>', html).group(1).replace("&amp;", "&")
    assert new != issued.uri and "Copy the URL now: you cannot see it again." in html
    with pytest.raises(WebhookRefused):
        call_webhook(webhook_id=issued.webhook.pk, token=token_of(issued.uri), body=b"", headers={}, source_ip=None)
    call_webhook(webhook_id=issued.webhook.pk, token=token_of(new), body=b"", headers={}, source_ip=None)
    assert token_of(new) not in client.get(url(people, "webhook", book, issued.webhook)).content.decode()
    assert token_of(new) not in json.dumps(list(AuditEvent.objects.values()), default=str)


def test_signing_is_turned_on_with_a_secret_shown_once_and_off_again(people, client_for, book):
    webhook = hook(book).webhook
    client = client_for(people.operator)
    target = url(people, "webhook_signing", book, webhook)
    assert "Require signed calls" in client.get(target).content.decode()

    html = client.post(target, {"signing": "on"}).content.decode()

    secret = re.search(r'<code id="webhook-secret">([^<]+)</code>', html).group(1)
    assert secret.startswith("whsec_") and Webhook.objects.get().signed
    assert 'id="webhook-url"' not in html
    assert "Stop requiring signatures" in client.get(target).content.decode()
    response = client.post(target, {"signing": "off"})
    assert response.status_code == 302 and not Webhook.objects.get().signed


def test_signing_without_a_choice_is_refused(people, client_for, book):
    webhook = hook(book).webhook
    before = state()

    response = client_for(people.operator).post(url(people, "webhook_signing", book, webhook), {"signing": "maybe"})

    assert response.status_code == 400 and "Choose whether calls must be signed" in response.content.decode()
    assert state() == before


def test_delete_asks_naming_the_webhook_then_deletes_it(people, client_for, book):
    webhook = hook(book).webhook
    client = client_for(people.operator)
    target = url(people, "webhook_delete", book, webhook)
    question = text(client.get(target).content.decode())
    assert "delete webhook “ Monitor ”" in question
    assert "This cannot be undone." in question

    response = client.post(target)

    assert response.status_code == 302 and response["Location"] == blade(people, book) + "#webhooks"
    assert not Webhook.objects.exists()
    assert AuditEvent.objects.filter(action="webhook.delete").exists()

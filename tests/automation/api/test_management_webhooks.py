"""Management API: runbooks/{name}/webhooks/ — the URL in the answer that made it and nowhere else."""

from urllib.parse import quote, urlsplit

import pytest
from django.test import Client

from automation.models import AuditEvent, Webhook
from tests.automation.api.helpers import assert_error
from tests.automation.api.management_support import api_client
from tests.automation.api.test_secrets import debug_everywhere, record_text
from tests.support.assets import audit_text
from tests.support.builders import make_group, make_runbook
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

RUNBOOK = "Echo body v2"  # a space and a dot: the URL encodes them


@pytest.fixture
def runbook(people):
    make_group(people.account)
    return make_runbook(people.account, RUNBOOK, parameters=[{"name": "who", "type": "string", "required": True}])


def url(people, rest: str = "") -> str:
    return f"/api/v1/accounts/{people.account.pk}/runbooks/{quote(RUNBOOK)}/webhooks/{rest}"


def create(people, client=None, **body):
    body = {"name": "Monitor", "run_on": "lab", "parameters": {"who": "ops"}, **body}
    client = client or api_client(people.operator, "token")
    return client.post(url(people), body, format="json")


def test_create_answers_201_with_the_uri_once_and_later_reads_show_none(people, runbook):
    response = create(people, expiry_time="2099-01-01T00:00:00+01:00")
    assert response.status_code == 201, response.content
    made = response.json()
    assert made["uri"].startswith(f"http://127.0.0.1:8000/webhooks/{made['id']}?token=")
    assert made["signing_secret"] == ""
    assert (made["name"], made["runbook"], made["run_on"], made["enabled"], made["signed"]) == (
        "Monitor",
        RUNBOOK,
        "lab",
        True,
        False,
    )
    assert (made["expiry_time"], made["expired"], made["parameters"], made["last_call"]) == (
        "2098-12-31T23:00:00Z",
        False,
        {"who": "ops"},
        None,
    )
    reader = api_client(people.reader, "token")
    listed = reader.get(url(people)).json()["results"]
    assert [(w["id"], w["uri"]) for w in listed] == [(made["id"], "")]
    assert "signing_secret" not in listed[0]
    assert reader.get(url(people, f"{made['id']}/")).json()["uri"] == ""

    call = Client(REMOTE_ADDR="203.0.113.1").post(urlsplit(made["uri"]).path + "?" + urlsplit(made["uri"]).query)
    assert call.status_code == 202
    last = reader.get(url(people, f"{made['id']}/")).json()["last_call"]
    assert (last["accepted"], last["outcome"]) == (True, f"Started job {call.json()['JobIds'][0]}")


def test_patch_rotate_extend_and_signing_change_the_webhook(people, runbook):
    client = api_client(people.operator, "token")
    made = create(people).json()
    detail = url(people, f"{made['id']}/")

    changed = client.patch(detail, {"enabled": False, "name": "Renamed", "parameters": {"who": "x"}}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["enabled"], changed.json()["name"], changed.json()["uri"]) == (False, "Renamed", "")

    rotated = client.post(detail + "rotate/")
    assert rotated.status_code == 200
    assert rotated.json()["uri"] not in ("", made["uri"])
    assert rotated.json()["uri"].startswith(f"http://127.0.0.1:8000/webhooks/{made['id']}?token=")

    extended = client.post(detail + "extend/", {"expiry_time": "2098-05-01T00:00:00Z"}, format="json")
    assert (extended.status_code, extended.json()["expiry_time"]) == (200, "2098-05-01T00:00:00Z")

    signing = client.post(detail + "signing/")
    assert signing.status_code == 200
    assert (signing.json()["signed"], signing.json()["signing_secret"][:6]) == (True, "whsec_")
    assert client.get(detail).json()["signed"] is True
    unsigned = client.delete(detail + "signing/")
    assert (unsigned.status_code, unsigned.json()["signed"]) == (200, False)

    assert client.delete(detail).status_code == 204
    assert not Webhook.objects.exists()
    actions = set(AuditEvent.objects.filter(action__startswith="webhook.").values_list("action", flat=True))
    assert actions == {
        "webhook.create",
        "webhook.update",
        "webhook.rotate",
        "webhook.extend",
        "webhook.signing.enable",
        "webhook.signing.disable",
        "webhook.delete",
    }


def test_a_signed_create_answers_its_secret_once(people, runbook):
    made = create(people, signed=True).json()
    assert made["signed"] is True and made["signing_secret"].startswith("whsec_")
    assert "signing_secret" not in api_client(people.owner, "token").get(url(people, f"{made['id']}/")).json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad/name"}, "name"),
        ({"run_on": "nowhere"}, "run_on"),
        ({"enabled": "true"}, "enabled"),
        ({"signed": "yes"}, "signed"),
        ({"expiry_time": "2001-01-01T00:00:00Z"}, "expiry_time"),
        ({"expiry_time": 5}, "expiry_time"),
        ({"parameters": {}}, "who"),
        ({"parameters": {"who": "a", "WebhookData": "x"}}, "WebhookData"),
        ({"uri": "http://elsewhere"}, "uri"),
        ({"token": "mine"}, "token"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(people, runbook, body, field):
    client = api_client(people.operator, "token")
    before = state()
    assert_error(create(people, client, **body), 400, field=field)
    assert state() == before


def test_a_name_taken_whatever_its_case_is_409(people, runbook):
    client = api_client(people.operator, "token")
    create(people, client)
    before = state()
    assert_error(create(people, client, name="MONITOR"), 409, "name_taken")
    assert state() == before


@pytest.mark.parametrize(("role", "status"), [("reader", 403), ("stranger", 404)])
def test_readers_cannot_change_webhooks_and_strangers_do_not_see_them(people, runbook, role, status):
    made = create(people).json()
    client = api_client(people.by_role[role], "token")
    detail = url(people, f"{made['id']}/")
    before = state()
    for response in (
        create(people, client, name="Other"),
        client.patch(detail, {"enabled": False}, format="json"),
        client.post(detail + "rotate/"),
        client.post(detail + "extend/", {"expiry_time": "2099-01-01T00:00:00Z"}, format="json"),
        client.post(detail + "signing/"),
        client.delete(detail + "signing/"),
        client.delete(detail),
    ):
        assert_error(response, status)
    assert state() == before
    if role == "stranger":
        assert_error(client.get(url(people)), 404)
        assert_error(client.get(detail), 404)


def test_a_webhook_of_another_runbook_is_404(people, runbook):
    made = create(people).json()
    make_runbook(people.account, "other")
    other = f"/api/v1/accounts/{people.account.pk}/runbooks/other/webhooks/{made['id']}/"
    assert_error(api_client(people.owner, "token").get(other), 404)


def test_the_url_token_and_secret_are_in_no_log_line_other_answer_or_audit_entry(people, runbook, caplog):
    debug_everywhere(caplog)
    client = api_client(people.operator, "token")
    made = create(people, signed=True).json()
    detail = url(people, f"{made['id']}/")
    secrets = [made["uri"], urlsplit(made["uri"]).query.removeprefix("token="), made["signing_secret"]]
    rotated = client.post(detail + "rotate/").json()
    secrets += [rotated["uri"], urlsplit(rotated["uri"]).query.removeprefix("token=")]
    resigned = client.post(detail + "signing/").json()
    secrets.append(resigned["signing_secret"])
    others = [
        client.get(url(people)),
        client.get(detail),
        client.patch(detail, {"enabled": True}, format="json"),
        client.post(detail + "extend/", {"expiry_time": "2099-01-01T00:00:00Z"}, format="json"),
        client.get(f"/api/v1/accounts/{people.account.pk}/runbooks/{quote(RUNBOOK)}/"),
    ]
    texts = [r.content.decode() for r in others] + [record_text(r) for r in caplog.records] + [audit_text()]
    assert not [(s, t) for s in secrets for t in texts if s in t]

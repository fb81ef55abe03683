"""A webhook in a browser against a real daphne: an Operator adds one from the runbook blade, sees its URL once
with Copy (and the warning), and after Done and a reload the URL is gone from the page; a program calls the URL
and the Jobs list shows the job "by webhook <name>". The token is in no log line of the server, the access
log's line of the call included. Photographed at 1280 and 390 wide."""

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from automation.services.actor import Actor
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.workers import register_worker
from tests.e2e.conftest import off_loop, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
DECLARED = [{"name": "service", "type": "string", "required": True}, {"name": "WebhookData", "type": "json"}]


def make_runbook(account):
    runbook = create_runbook(
        account=account,
        name="on-alert",
        runbook_type="bash",
        content="echo alert",
        parameters=DECLARED,
        actor=Actor.for_system(),
    )
    publish_runbook(runbook=runbook, actor=Actor.for_system())
    register_worker(account=account, group_name="lab", machine_id="machine-lab", name="web-01", facts={})
    return runbook


def sticking_out(page, scope: str = "body") -> list[str]:
    """The outermost elements of `scope` that reach past the window's right edge (what a failure is about)."""
    return page.evaluate(
        """(scope) => [...document.querySelectorAll(scope + " *")]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
            .filter((e) => !e.parentElement.closest(".table-wrap"))
            .slice(0, 6)
            .map((e) => e.tagName.toLowerCase() + "." + [...e.classList].join("."))""",
        scope,
    )


def call(uri: str, body: dict) -> dict:
    request = urllib.request.Request(
        uri, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 202
        return json.load(answer)


@pytest.mark.parametrize("width", [1280, 390])
def test_an_operator_adds_a_webhook_sees_its_url_once_and_a_call_starts_a_job(
    browser, portal_server, people, log_dir, shot, width
):
    runbook = off_loop(make_runbook, people.account)
    blade = f"/accounts/{people.account.pk}/runbooks/{runbook.pk}/"
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=portal_server)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal_server)
    page = context.new_page()
    try:
        sign_in(page, "oscar", PASSWORD)
        expect(page.get_by_role("heading", name="Automation accounts")).to_be_visible()
        page.goto(blade)
        section = page.locator("#webhooks")
        expect(section).to_contain_text("No webhooks yet.")
        section.get_by_role("link", name="Add webhook").click()

        dialog = page.get_by_role("dialog", name="Add webhook")
        expect(dialog).to_be_visible()
        expect(dialog.locator("#id_param_WebhookData")).to_have_count(0)
        dialog.locator("#id_name").fill("From monitoring")
        dialog.locator("#id_param_service").fill("nginx")
        dialog.locator("#id_signed").check()
        shot(page, f"add-{width}")
        dialog.get_by_role("button", name="Create").click()

        shown = page.locator("#webhook-issued")
        expect(shown).to_contain_text("Copy the URL now: you cannot see it again.")
        expect(shown).to_contain_text("Copy the signing secret now: you cannot see it again.")
        uri = page.locator("#webhook-url").inner_text()
        secret = page.locator("#webhook-secret").inner_text()
        token = uri.rpartition("token=")[2]
        assert uri.startswith(f"{portal_server}/webhooks/") and len(token) >= 43 and secret.startswith("whsec_")
        box = shown.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, "the dialog fits the window"
        button = shown.locator('[data-copy="#webhook-url"]')
        button.click()
        expect(button).to_contain_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == uri
        shot(page, f"url-shown-{width}")

        # Done loads the webhook's blade, which cannot show the URL; nor can the runbook's, even reloaded.
        shown.get_by_role("link", name="Done").click()
        expect(page.locator(".essentials")).to_contain_text("Shown once, when it was made.")
        assert token not in page.content() and secret not in page.content()
        page.goto(blade)
        page.reload()
        row = page.locator('#webhooks tr[data-webhook="From monitoring"]')
        expect(row).to_contain_text("Enabled")
        expect(row).to_contain_text("Never")
        assert token not in page.content() and secret not in page.content()
        # The section (the editor above it scrolls within itself).
        assert sticking_out(page, "#webhooks") == []
        page.locator("#webhooks").scroll_into_view_if_needed()
        shot(page, f"runbook-webhooks-{width}")

        # Unsigned, it is refused; signing turned off, the same URL starts a job.
        row.get_by_role("link", name="From monitoring").click()
        expect(page.locator(".essentials")).to_contain_text("Required")
        page.locator(".commandbar").get_by_text("Signed calls").click()
        page.get_by_role("dialog").get_by_role("button", name="Stop requiring signatures").click()
        expect(page.locator(".infobar")).to_contain_text("takes unsigned calls again")
        (job_id,) = call(uri, {"alert": "disk full", "host": "web-07"})["JobIds"]
        page.reload()
        expect(page.locator("#webhook-last-call")).to_contain_text(f"Started job {job_id[:8]}")
        assert token not in page.content()
        assert sticking_out(page) == []
        shot(page, f"properties-{width}")

        page.goto(f"/accounts/{people.account.pk}/jobs/")
        expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_contain_text("by webhook From monitoring")
        shot(page, f"jobs-{width}")
    finally:
        context.close()
    lines = [
        line for path in log_dir.glob("*") if path.is_file() for line in path.read_text(errors="replace").splitlines()
    ]
    # The call's own line is there (daphne's access log, by portal.serve), with the path and not the query.
    call_lines = [
        line for line in lines if f'"POST /webhooks/{uri.rpartition("/webhooks/")[2].partition("?")[0]}?…"' in line
    ]
    assert call_lines, "the call's access-log line was looked for and found"
    assert not [line for line in lines if token in line or secret in line]

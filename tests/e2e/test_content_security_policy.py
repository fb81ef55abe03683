"""Every kind of portal page under its Content-Security-Policy, in Chromium: served with the policy, no
violation reported, and what the page does still works (selects that submit, the code editor, the live
socket and the output it streams, dialogs, the notifications panel, the admin, the API reference).

A violation is seen two ways: the page's `securitypolicyviolation` events (an init script collects them
in every document) and Chromium's console messages about the policy.
"""

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from automation.models import Job, Membership, Role
from automation.services.actor import Actor
from automation.services.jobs import Record, append_records, claim_jobs, start_job
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.workers import register_worker
from tests.e2e.conftest import off_loop, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
LIVE = 30_000  # ms: a push through Redis and daphne on a busy machine; only a failure waits this long
COLLECT_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


def record(seq: int, text: str) -> Record:
    return Record(seq=seq, stream="output", text=text, time=datetime.now(UTC))


@pytest.fixture
def scene(people):
    """A group with a worker, a published runbook and a Running job with a first line of output."""

    def build():
        system = Actor.for_system()
        get_user_model().objects.filter(pk=people.owner.pk).update(is_staff=True, is_superuser=True)
        worker = register_worker(
            account=people.account, group_name="east", machine_id="machine-csp-01", name="web-01", facts={}
        ).worker
        runbook = create_runbook(
            account=people.account, name="check-web", runbook_type="python3", content="print('up')\n", actor=system
        )
        publish_runbook(runbook=runbook, actor=system)
        start_job(account=people.account, runbook_name="check-web", group_name="east", actor=Actor(user=people.owner))
        (job,) = claim_jobs(worker=worker)
        append_records(worker=worker, job_id=job.pk, lease=job.lease_id, records=[record(0, "first line")])
        return worker, runbook, Job.objects.get(pk=job.pk)

    worker, runbook, job = off_loop(build)

    class Scene:
        pass

    s = Scene()
    s.account, s.worker, s.group, s.runbook, s.job = people.account, worker, worker.group, runbook, job
    s.more_output = lambda seq, text: off_loop(
        append_records, worker=worker, job_id=job.pk, lease=job.lease_id, records=[record(seq, text)]
    )
    return s


class Visitor:
    """One browser tab that checks the policy header and the reported violations of every page it opens."""

    def __init__(self, page):
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        page.add_init_script(COLLECT_VIOLATIONS)
        page.on("console", lambda m: self.console.append(f"{page.url}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))

    def open(self, path: str, ready: str, *, live: bool = True):
        answer = self.page.goto(path)
        assert answer is not None and answer.ok, f"{path}: {answer and answer.status}"
        policy = answer.header_value("content-security-policy") or ""
        assert "default-src 'self'" in policy, f"{path} was served without the policy: {policy!r}"
        expect(self.page.locator(ready).first).to_be_visible()
        if live:  # the socket is allowed by connect-src and accepted by the origin check
            expect(self.page.locator("#live-state")).to_have_class(re.compile("connected"), timeout=LIVE)
        self.assert_clean(path)

    def assert_clean(self, where: str) -> None:
        violations = self.page.evaluate("window.__violations || []")
        reported = [line for line in self.console if "Content Security Policy" in line]
        assert violations == [] and reported == [], f"{where}: {violations} {reported}"
        assert self.errors == [], f"{where}: {self.errors}"


def test_every_page_runs_under_the_policy_without_a_violation(page, people, scene, shot):
    account = f"/accounts/{scene.account.pk}"
    visitor = Visitor(page)

    visitor.open("/login/", "#id_username", live=False)
    sign_in(page, "olivia", PASSWORD)
    expect(page.locator("#live-state")).to_have_class(re.compile("connected"), timeout=LIVE)
    visitor.assert_clean("home after signing in")

    visitor.open("/", "text=contoso-automation")
    visitor.open(f"{account}/", ".blade-menu")
    visitor.open(f"{account}/groups/", "text=east")
    visitor.open(f"{account}/groups/{scene.group.pk}/", "text=web-01")
    visitor.open(f"{account}/workers/{scene.worker.pk}/", "text=web-01")
    visitor.open(f"{account}/keys/", ".blade-menu")
    visitor.open(f"{account}/activity/", ".blade-menu")
    visitor.open("/profile/", "main")

    # A dialog fetched by htmx into the modal.
    visitor.open(f"{account}/runbooks/", "text=check-web")
    page.locator(".commandbar").get_by_role("link", name="Create a runbook").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    visitor.assert_clean("the Create a runbook dialog")

    # The code editor: Ace loaded, and it edits.
    visitor.open(f"{account}/runbooks/{scene.runbook.pk}/", "#runbook-form .ace_editor")
    page.locator("#runbook-form .ace_editor").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("# edited under the policy")
    value = "ace.edit(document.querySelector('#runbook-form .ace_editor')).getValue()"
    assert page.evaluate(value).endswith("# edited under the policy")
    shot(page, "editor")
    visitor.assert_clean("the runbook editor")

    # The status filter submits itself when changed.
    visitor.open(f"{account}/jobs/", "text=check-web")
    page.get_by_label("Status").select_option("Running")
    expect(page).to_have_url(re.compile(r"[?&]status=Running"))
    visitor.assert_clean("the filtered job list")

    # The job's output grows live: the push arrives over the socket, the new lines are fetched.
    visitor.open(f"{account}/jobs/{scene.job.pk}/", "text=first line")
    scene.more_output(1, "second line, pushed")
    expect(page.locator("#job-log")).to_contain_text("second line, pushed", timeout=LIVE)
    visitor.assert_clean("the job's live output")

    # The role select submits itself too.
    visitor.open(f"{account}/access/", "text=rita")
    with page.expect_navigation():
        page.get_by_label("Role of rita").select_option("operator")
    expect(page.get_by_label("Role of rita")).to_have_value("operator")
    assert off_loop(lambda: Membership.objects.get(account=scene.account, user=people.reader).role) == Role.OPERATOR
    visitor.assert_clean("the changed role")

    # The notifications panel, fetched when the bell is pressed.
    page.locator("#bell").click()
    expect(page.locator("#notifications-panel")).to_be_visible()
    expect(page.locator("#notifications-panel")).not_to_be_empty()
    visitor.assert_clean("the notifications panel")

    visitor.open("/admin/", "#content", live=False)
    visitor.open("/admin/automation/hybridworker/", "text=web-01", live=False)
    visitor.open("/api/docs/", ".swagger-ui .info", live=False)
    shot(page, "api-docs")

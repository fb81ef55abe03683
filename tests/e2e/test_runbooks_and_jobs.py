"""Runbooks and jobs in the browser: write, publish and start a runbook on a group a real agent serves,
watch the job go Queued → Running → Completed with its output appearing live, and stop a long one.

The stack (daphne, a Celery worker and beat) and the agents are the worker blades' fixtures.
"""

import hashlib
import re

import pytest
from playwright.sync_api import expect

from automation.models import Job, RunbookVersion
from tests.e2e import test_worker_blades as blades
from tests.e2e.conftest import sign_in
from tests.e2e.test_worker_blades import LIVE, PASSWORD, assert_not_reloaded, mark, open_live, primary_key
from tests.support.processes import descendants
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

# The worker blades' fixtures, shared: daphne + Celery worker + beat, a browser context on it, real agents.
stack = blades.stack
context = blades.context
agents = blades.agents
# Nothing here watches a worker go offline: heartbeats every 5 s make the lease 15 s, so that a busy
# machine delaying a live agent's heartbeats does not take its running job away.
SERVER_SETTINGS = {**blades.SERVER_SETTINGS, "HEARTBEAT_INTERVAL_SECONDS": "5"}

GROUP = "datacenter-east"
PARAMETERS = '[{"name": "service", "type": "string", "required": true}]'
# The runbook gets `--service nginx`. It waits for a file the test writes into its sandbox (its
# working folder), so the job is certainly Running, with its first records shown, before it ends.
RESTART_SERVICE = """\
service="$2"
echo "Stopping $service…"
echo "WARNING: $service had 3 active connections"
echo "<script>alert(1)</script>"
until [ -e drained ]; do sleep 0.2; done
echo "Started"
"""
SLEEPY = "echo started; sleep 300\n"
JOB_URL = re.compile(r"/jobs/([0-9a-f-]{36})/$")  # JavaScript syntax too: Playwright matches it in the page

# Every status the job blade shows, in order, whatever replaces the summary.
RECORD_STATUSES = """() => {
  const seen = () => document.querySelector("#job-status")?.dataset.status;
  window.__statuses = [seen()];
  new MutationObserver(() => {
    const s = seen();
    if (s && s !== window.__statuses[window.__statuses.length - 1]) window.__statuses.push(s);
  }).observe(document.querySelector("#job-summary"), { childList: true, subtree: true });
}"""


def write_draft(page, content: str) -> None:
    """Put the whole draft into the code editor at once (typing it would meet the editor's auto-indent);
    the editor keeps the form's hidden textarea in step. tests/e2e/test_runbook_editor.py types for real."""
    expect(page.locator("#runbook-form .ace_editor")).to_be_visible()
    page.evaluate("text => ace.edit(document.querySelector('#runbook-form .ace_editor')).setValue(text, 1)", content)


def create_and_publish(page, shot, prefix: str, name: str, content: str, parameters: str = "") -> None:
    """From the Runbooks blade: the Create dialog, then the draft saved and published on the runbook blade."""
    page.locator(".commandbar").get_by_role("link", name="Create a runbook").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_label("Runbook type").select_option(label="Bash")
    shot(page, f"{prefix}-create-dialog")
    dialog.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator(".infobar")).to_contain_text(f"Created runbook {name}.")
    expect(page.locator(".breadcrumbs")).to_contain_text(name)

    form = page.locator("#runbook-form")
    if parameters:
        form.get_by_label("Parameters (JSON)").fill(parameters)
    write_draft(page, content)
    shot(page, f"{prefix}-draft")
    form.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".infobar")).to_contain_text("Saved the draft.")
    expect(page.locator("#runbook-form").get_by_label("Draft", exact=True)).to_have_value(content)
    page.locator(".commandbar").get_by_role("button", name="Publish", exact=True).click()
    expect(page.locator(".infobar")).to_contain_text(f"Published version 1 of {name}.")
    expect(page.locator(".essentials")).to_contain_text("Published (version 1)")
    version = RunbookVersion.objects.get(runbook__account__name="contoso-automation", runbook__name=name)
    assert version.content == content, "the published content is not the draft as typed"
    row = page.locator("#versions tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_have_text("1")
    expect(row.locator("td").nth(3)).to_have_text(hashlib.sha256(content.encode()).hexdigest())
    row.scroll_into_view_if_needed()  # the versions table is below the draft
    shot(page, f"{prefix}-published")


def sleeps_under(agent) -> list:
    return [p for p in descendants(agent.popen.pid) if p.name() == "sleep"]


def start_job(page) -> str:
    """Start a runbook without parameters from its blade; returns the job's id once its blade is open."""
    page.locator(".commandbar").get_by_role("link", name="Start", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Run on: Hybrid Worker group")).to_have_value(GROUP)
    dialog.get_by_role("button", name="OK", exact=True).click()
    expect(page).to_have_url(JOB_URL)
    return JOB_URL.search(page.url)[1]


def test_an_owner_writes_publishes_and_runs_runbooks_on_a_group_and_stops_a_long_one(
    context, stack, people, agents, shot
):
    account = people.account
    page = context.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    sign_in(page, people.owner.username, PASSWORD)
    page.get_by_role("link", name="contoso-automation").click()
    page.locator(".blade-menu").get_by_role("link", name="Runbooks", exact=True).click()
    expect(page.locator(".blade-title h1")).to_contain_text("contoso-automation | Runbooks")
    expect(page.locator("#runbooks")).to_contain_text("No runbooks yet.")
    shot(page, "01-runbooks-empty")

    # 1. Create restart-service, declare its parameter, write and publish the draft.
    create_and_publish(page, shot, "02", "restart-service", RESTART_SERVICE, PARAMETERS)

    # 2. A real agent joins datacenter-east; start the runbook there.
    east = agents("east-01")
    east.register(stack.endpoint(account), primary_key(people), GROUP)
    agent = east.start()

    page.locator(".commandbar").get_by_role("link", name="Start", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Run on: Hybrid Worker group")
    expect(dialog.get_by_label("Run on: Hybrid Worker group")).to_have_value(GROUP)
    service = dialog.get_by_label("service (string, required)")
    expect(service).to_have_value("")
    shot(page, "03-start-dialog")
    with page.expect_response(lambda r: r.request.method == "POST" and "/start/" in r.url) as answer:
        dialog.get_by_role("button", name="OK", exact=True).click()
    assert answer.value.status == 400
    dialog = page.get_by_role("dialog")
    field = dialog.locator(".field", has=page.get_by_label("service (string, required)"))
    expect(field.locator(".errors")).to_have_text("Parameter 'service' is required.")
    assert not Job.objects.filter(account=account).exists()
    shot(page, "04-start-required-error")
    service.fill("nginx")
    dialog.get_by_role("button", name="OK", exact=True).click()
    expect(page).to_have_url(JOB_URL)
    restart_id = JOB_URL.search(page.url)[1]
    page.evaluate(RECORD_STATUSES)
    mark(page)
    expect(page.locator(".essentials")).to_contain_text("service=nginx")

    status = page.locator("#job-status")
    log = page.locator("#job-log tbody")
    expect(status).to_have_text("Running", timeout=LIVE)
    expect(log.locator("td.text", has_text="Stopping nginx…")).to_be_visible(timeout=LIVE)
    expect(log.locator("tr.rec-warning td.text")).to_have_text("nginx had 3 active connections", timeout=LIVE)
    script_line = log.locator("td.text", has_text="<script>alert(1)</script>")
    expect(script_line).to_be_visible(timeout=LIVE)
    expect(script_line).to_have_text("<script>alert(1)</script>")
    expect(log.locator("script")).to_have_count(0)
    expect(page.get_by_role("link", name="Stop", exact=True)).to_be_visible()
    assert_not_reloaded(page)
    shot(page, "05-job-running-live")

    (east.state_dir / "sandboxes" / restart_id / "drained").touch()
    expect(status).to_have_text("Completed", timeout=LIVE)
    expect(log.locator("td.text", has_text="Started")).to_be_visible(timeout=LIVE)
    expect(page.locator(".essentials")).to_contain_text("east-01")
    expect(page.get_by_role("link", name="Stop", exact=True)).to_have_count(0)
    expect(log.locator("tr")).to_have_count(4)
    expect(page.locator("#job-log script")).to_have_count(0)
    assert not alerts, alerts
    assert_not_reloaded(page)
    statuses = page.evaluate("window.__statuses")
    assert statuses[-2:] == ["Running", "Completed"], statuses
    assert statuses[0] in ("Queued", "Activating", "Running"), statuses
    shot(page, "06-job-completed-live")

    page.locator(".tabs").get_by_role("link", name="Warnings", exact=True).click()
    expect(page.locator(".tabs a.active")).to_have_text("Warnings")
    expect(page.locator("#job-log tbody tr")).to_have_count(1)
    expect(page.locator("#job-log tbody tr.rec-warning td.text")).to_have_text("nginx had 3 active connections")
    expect(page.locator("#live-state")).to_have_class(re.compile("connected"))
    shot(page, "07-warnings-tab")

    # 3. A long one: sleepy starts, prints, sleeps; Stop ends it (and only it) while a Jobs tab watches.
    page.locator(".blade-menu").get_by_role("link", name="Runbooks", exact=True).click()
    expect(page.locator('#runbooks tr[data-runbook="restart-service"]')).to_contain_text("Published (v1)")
    create_and_publish(page, shot, "08", "sleepy", SLEEPY)
    sleepy_id = start_job(page)
    mark(page)
    expect(status).to_have_text("Running", timeout=LIVE)
    expect(log.locator("td.text")).to_have_text(["started"], timeout=LIVE)
    wait_until(lambda: sleeps_under(agent), "the runbook's sleep to run under the agent", timeout=LIVE / 1000)

    jobs_tab = open_live(context, f"/accounts/{account.pk}/jobs/")
    jobs = jobs_tab.locator("#jobs tbody tr")
    expect(jobs).to_have_count(2)
    sleepy_row = jobs_tab.locator(f'tr[data-job-id="{sleepy_id}"]')
    restart_row = jobs_tab.locator(f'tr[data-job-id="{restart_id}"]')
    expect(jobs.nth(0)).to_have_attribute("data-job-id", sleepy_id)  # newest first
    expect(sleepy_row.locator(".status")).to_have_text("Running")
    expect(restart_row.locator(".status")).to_have_text("Completed")
    expect(restart_row).to_contain_text("east-01")
    shot(jobs_tab, "09-jobs-list-running")

    page.bring_to_front()
    page.get_by_role("link", name="Stop", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Are you sure you want to stop this job of sleepy on east-01?")
    shot(page, "10-stop-dialog")
    with page.expect_navigation():  # the blade is loaded again, showing Stopping or Stopped
        dialog.get_by_role("button", name="Yes", exact=True).click()
    expect(status).to_have_text("Stopped", timeout=LIVE)
    expect(page.get_by_role("link", name="Stop", exact=True)).to_have_count(0)
    shot(page, "11-job-stopped")

    expect(sleepy_row.locator(".status")).to_have_text("Stopped", timeout=LIVE)
    expect(restart_row.locator(".status")).to_have_text("Completed")
    assert_not_reloaded(jobs_tab)
    jobs_tab.bring_to_front()
    shot(jobs_tab, "12-jobs-list-stopped-live")

    # The job's process tree is gone; the agent goes on.
    assert not sleeps_under(agent), "the runbook's sleep survived the Stop"
    assert agent.alive(), agent.output()
    job = Job.objects.get(pk=sleepy_id)
    assert (job.status, job.worker_name) == ("Stopped", "east-01")

"""The runbook editor in the browser: the draft in a code editor (line numbers, highlighting, typing,
Ctrl+S), and the Test pane running the draft on a group a real agent serves, its output arriving live,
Stop, and a Reader who sees the draft read-only.

The stack (daphne, a Celery worker and beat) and the agents are the worker blades' fixtures.
"""

import re

import pytest
from playwright.sync_api import expect

from automation.models import AuditEvent, Job, JobStatus, JobStream
from automation.services.actor import Actor
from automation.services.runbooks import create_runbook
from tests.e2e import test_worker_blades as blades
from tests.e2e.conftest import off_loop, sign_in
from tests.e2e.test_worker_blades import LIVE, PASSWORD, assert_not_reloaded, mark, primary_key

pytestmark = pytest.mark.e2e

stack = blades.stack
context = blades.context
agents = blades.agents
# Nothing here watches a worker go offline: heartbeats every 5 s make the lease 15 s, so that a busy
# machine delaying a live agent's heartbeats does not take its running job away.
SERVER_SETTINGS = {**blades.SERVER_SETTINGS, "HEARTBEAT_INTERVAL_SECONDS": "5"}

GROUP = "lab"
DECLARED = [
    {"name": "target", "type": "string", "required": True},
    {"name": "token", "type": "secret"},
]
# The draft waits for a file the test writes into its sandbox (its working folder), so the test is
# certainly Running, with its first records shown, before it ends.
DRAFT = """\
import os
import sys
import time

import hybridworker_runbook as hrw

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
print("Checking", args["--target"], flush=True)
print("WARNING: the cache is cold", flush=True)
while not os.path.exists("go"):
    time.sleep(0.2)
"""
# A secret is never on the command line: the runbook reads it from its parameters file.
TYPED = 'print("token has", len(hrw.parameters()["token"]), "characters")'
COMMENT = "# tested from the Test pane"
SECRET = "hunter2-but-longer"


def make_runbook(people):
    def make():
        return create_runbook(
            account=people.account,
            name="check-web",
            runbook_type="python3",
            description="Checks a web server.",
            content=DRAFT,
            parameters=DECLARED,
            actor=Actor.for_system(),
        )

    return off_loop(make)


def editor_value(page) -> str:
    return page.evaluate("ace.edit(document.querySelector('#runbook-form .ace_editor')).getValue()")


def open_runbook(page, people, username: str) -> None:
    sign_in(page, username, PASSWORD)
    page.get_by_role("link", name="contoso-automation").click()
    page.locator(".blade-menu").get_by_role("link", name="Runbooks", exact=True).click()
    page.get_by_role("link", name="check-web").click()
    expect(page.locator(".breadcrumbs")).to_contain_text("check-web")


def test_an_operator_edits_the_draft_in_the_editor_and_runs_it_in_the_test_pane(context, stack, people, agents, shot):
    runbook = make_runbook(people)
    lab = agents("lab-01")
    lab.register(stack.endpoint(people.account), primary_key(people), GROUP)
    agent = lab.start()

    page = context.new_page()
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    open_runbook(page, people, people.operator.username)

    # 1. The draft is in a code editor: line numbers, Python highlighting, the textarea hidden behind it.
    form = page.locator("#runbook-form")
    editor = form.locator(".ace_editor")
    expect(editor).to_be_visible()
    expect(form.locator("textarea[name=content]")).to_be_hidden()
    expect(editor.locator(".ace_gutter-cell")).to_have_count(DRAFT.count("\n") + 1)
    expect(editor.locator(".ace_gutter-cell").first).to_have_text("1")
    expect(editor.locator(".ace_keyword", has_text="import").first).to_be_visible()
    expect(editor.locator(".ace_string", has_text='"Checking"')).to_be_visible()
    box = editor.bounding_box()
    assert box["height"] >= 360 and box["width"] >= 700, box
    expect(page.locator("#draft-state")).to_be_hidden()
    shot(page, "01-editor")

    # 2. Type a line for real at the end of the draft; the form's textarea follows; Ctrl+S saves.
    form.locator(".ace_content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type(TYPED)
    page.keyboard.press("Enter")
    typed = DRAFT + TYPED + "\n"
    assert editor_value(page) == typed
    expect(form.locator("textarea[name=content]")).to_have_value(typed)
    expect(page.locator("#draft-state")).to_have_text("Unsaved changes")
    shot(page, "02-typed")
    page.keyboard.press("Control+f")  # the editor's own search box, served from the vendored files too
    expect(editor.locator(".ace_search")).to_be_visible()
    page.keyboard.press("Escape")
    expect(editor.locator(".ace_search")).to_be_hidden()
    with page.expect_navigation():
        page.keyboard.press("Control+s")
    expect(page.locator(".infobar")).to_have_text("Saved the draft.")
    runbook.refresh_from_db()
    assert runbook.draft == typed
    assert AuditEvent.objects.filter(action="runbook.edit").count() == 1  # one key press, one save
    expect(form.locator(".ace_editor")).to_be_visible()
    assert editor_value(page) == typed
    expect(page.locator("#draft-state")).to_be_hidden()
    # Ctrl+S saves from any field of the form, not only from the editor.
    form.get_by_label("Description").press("End")
    page.keyboard.type(" Typed.")
    with page.expect_navigation():
        page.keyboard.press("Control+s")
    expect(page.locator(".infobar")).to_have_text("Saved the draft.")
    runbook.refresh_from_db()
    assert (runbook.description, runbook.draft) == ("Checks a web server. Typed.", typed)

    # 3. An unsaved edit, then the Test pane: Start saves the draft first and runs that.
    form.locator(".ace_content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type(COMMENT)
    expect(page.locator("#draft-state")).to_be_visible()
    page.locator(".commandbar").get_by_role("link", name="Test pane").click()
    pane = page.locator("#test-pane")
    expect(pane).to_be_visible()
    expect(pane.get_by_role("heading", name="Test pane")).to_be_visible()
    expect(pane.get_by_label("Run on: Hybrid Worker group")).to_have_value(GROUP)
    expect(pane).to_contain_text("No test has run yet.")
    token = pane.get_by_label("token (secret)")
    expect(token).to_have_attribute("type", "password")
    pane.get_by_label("target (string, required)").fill("web-01.contoso.test")
    token.fill(SECRET)
    mark(page)
    shot(page, "03-test-pane")
    pane.get_by_role("button", name="Start", exact=True).click()

    status = pane.locator("#test-job-status")
    log = pane.locator("#test-log")
    expect(pane.locator(".test-saved")).to_have_text("Saved the draft.")
    expect(page.locator("#draft-state")).to_be_hidden()
    expect(status).to_have_text("Running", timeout=LIVE)
    expect(log.locator(".rec-output .text")).to_have_text(["Checking web-01.contoso.test"], timeout=LIVE)
    expect(log.locator(".rec-warning .text")).to_have_text("the cache is cold", timeout=LIVE)
    expect(pane.locator(".test-meta")).to_contain_text("Draft (test)")
    expect(pane.locator(".test-meta")).to_contain_text("lab / lab-01")
    expect(pane.locator(".test-input")).to_contain_text("token=******")
    assert_not_reloaded(page)
    job = Job.objects.get(runbook=runbook)
    assert (job.is_test, job.version_number) == (True, 0)
    assert job.test_snapshot["content"] == typed + COMMENT
    runbook.refresh_from_db()
    assert runbook.draft == typed + COMMENT
    assert list(AuditEvent.objects.order_by("created_at").values_list("action", flat=True))[-2:] == [
        "runbook.edit",
        "job.test",
    ]
    shot(page, "04-test-running-live")

    # 4. Stop, after a confirmation; the pane shows Stopped live.
    pane.get_by_role("link", name="Stop", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Are you sure you want to stop this test of check-web on lab-01?")
    shot(page, "05-stop-dialog")
    dialog.get_by_role("button", name="Yes", exact=True).click()
    expect(dialog).to_have_count(0)
    expect(status).to_have_text("Stopped", timeout=LIVE)
    expect(pane.get_by_role("link", name="Stop", exact=True)).to_have_count(0)
    assert_not_reloaded(page)

    # 5. Again, to the end: the typed line prints the secret's length, never the secret.
    expect(pane.get_by_label("target (string, required)")).to_have_value("web-01.contoso.test")
    expect(pane.get_by_label("token (secret)")).to_have_value("")  # a secret is typed again, never sent back
    pane.get_by_label("token (secret)").fill(SECRET)
    pane.get_by_role("button", name="Start", exact=True).click()
    expect(pane.locator(".test-saved")).to_have_count(0)  # nothing changed since the last save
    expect(status).to_have_text("Running", timeout=LIVE)
    second = Job.objects.filter(runbook=runbook).order_by("-created_at").first()
    assert second.pk != job.pk
    expect(log.locator(".rec-output .text").first).to_have_text("Checking web-01.contoso.test", timeout=LIVE)
    (lab.state_dir / "sandboxes" / str(second.pk) / "go").touch()
    expect(status).to_have_text("Completed", timeout=LIVE)
    expect(log.locator(".rec-output .text")).to_have_text(
        ["Checking web-01.contoso.test", f"token has {len(SECRET)} characters"], timeout=LIVE
    )
    expect(pane.locator(".test-meta span").last).to_have_text("exit code 0")
    assert SECRET not in page.content()
    assert not alerts, alerts
    assert_not_reloaded(page)
    assert agent.alive(), agent.output()
    shot(page, "06-test-completed-live")

    # Tests stay out of the Jobs list.
    page.locator(".blade-menu").get_by_role("link", name="Jobs", exact=True).click()
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    expect(page.locator("#jobs")).to_contain_text("No jobs")


# One record, then a wait for the test's file: after its first batch the job pushes nothing more.
ONE_LINE = """\
import os
import time

print("up", flush=True)
while not os.path.exists("go"):
    time.sleep(0.2)
"""
# What the page heard over its socket, in order.
LISTEN = """() => {
  window.__heard = [];
  for (const type of ["job-status", "job-streams"]) {
    document.body.addEventListener("live:" + type, (e) => window.__heard.push(type + " " + (e.detail.status || "")));
  }
}"""
# A function, not an expression: Playwright evaluates an expression with eval, which the page's CSP forbids.
HEARD = "() => window.__heard.includes('job-status Running') && window.__heard.includes('job-streams ')"
TEST_PANE_URL = re.compile(r"/runbooks/[^/]+/test/$")


def test_the_test_pane_shows_what_was_pushed_before_it_arrived(context, stack, people, agents):
    """A busy browser or network may bring the pane with a new test after the test already ran and its
    changes were pushed: the pane catches up, it does not wait for a push that already came."""
    off_loop(
        create_runbook,
        account=people.account,
        name="check-web",
        runbook_type="python3",
        content=ONE_LINE,
        actor=Actor.for_system(),
    )
    lab = agents("lab-01")
    lab.register(stack.endpoint(people.account), primary_key(people), GROUP)
    agent = lab.start()
    page = context.new_page()
    open_runbook(page, people, people.operator.username)
    expect(page.locator("#live-state")).to_have_class(re.compile("connected"))
    page.locator(".commandbar").get_by_role("link", name="Test pane").click()
    pane = page.locator("#test-pane")
    expect(pane).to_contain_text("No test has run yet.")
    page.evaluate(LISTEN)
    mark(page)

    # The answer to Start reaches the page only once the test is Running, its record stored, and both
    # pushed to this page (which then had no part listening for that test).
    answered = []

    def answer_after_the_pushes(route, request):
        if request.method != "POST":
            route.continue_()
            return
        answer = route.fetch()
        page.wait_for_function(HEARD, timeout=LIVE)
        job = Job.objects.get(runbook__name="check-web")
        answered.append((job.status, list(JobStream.objects.filter(job=job).values_list("text", flat=True))))
        route.fulfill(response=answer)

    page.route(TEST_PANE_URL, answer_after_the_pushes)
    pane.get_by_role("button", name="Start", exact=True).click()

    status = pane.locator("#test-job-status")
    expect(status).to_have_text("Running", timeout=2 * LIVE)
    expect(pane.locator("#test-log .rec-output .text")).to_have_text(["up"], timeout=LIVE)
    assert answered == [(JobStatus.RUNNING, ["up"])]
    assert_not_reloaded(page)
    page.unroute(TEST_PANE_URL)
    job = Job.objects.get(runbook__name="check-web")
    (lab.state_dir / "sandboxes" / str(job.pk) / "go").touch()
    expect(status).to_have_text("Completed", timeout=LIVE)
    assert agent.alive(), agent.output()


def test_a_reader_sees_the_draft_read_only_without_a_test_pane(page, people, shot):
    make_runbook(people)
    open_runbook(page, people, people.reader.username)

    editor = page.locator("#runbook-form .ace_editor")
    expect(editor).to_be_visible()
    expect(editor.locator(".ace_keyword", has_text="import").first).to_be_visible()
    expect(page.locator(".commandbar").get_by_role("link", name="Test pane")).to_have_count(0)
    expect(page.locator(".commandbar").get_by_role("button", name="Save")).to_have_count(0)
    expect(page.locator(".commandbar .draft-state")).to_have_text("Read only")
    expect(page.locator("#runbook-form textarea[name=description]")).not_to_be_editable()
    shot(page, "read-only")
    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    editor.locator(".ace_content").click()
    page.keyboard.type("nope")
    page.keyboard.press("Control+s")  # not a save for a Reader
    assert editor_value(page) == DRAFT
    expect(page.locator(".infobar")).to_have_count(0)
    assert not posts, posts

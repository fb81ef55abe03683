"""What a person reads on the detail blades is true and fits: each blade is titled with its resource's name,
a failing job's long reason wraps inside its cell, the jobs list keeps up with a busy account, copy buttons
keep their icon, an emptied group remembers when it last saw a worker, and dialogs say what cannot be done
before anyone confirms it. Each page is photographed at 1280 and 390 wide under test-artifacts/."""

import re
import threading

import pytest
from django.db import connections
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from automation import live
from automation.models import Membership, Role
from automation.services import jobs as job_services
from automation.services.accounts import change_role
from automation.services.actor import Actor
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.workers import register_worker, remove_worker
from tests.e2e.conftest import off_loop, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
SYSTEM = Actor.for_system()
WIDTHS = (1280, 390)
# A reason as an agent sends it: the runbook's last error lines, with a path and a token that have no
# place to break.
LONG_REASON = "exit code 3: " + "/var/lib/hybridworker/sandboxes/" + "x" * 400 + " " + "NoSpaceAtAll" * 40


class World:
    """restart-service published; group datacenter-east with worker east-01; a job of it that failed."""

    def __init__(self, people):
        self.account = people.account
        self.people = people
        runbook = create_runbook(
            account=self.account, name="restart-service", runbook_type="bash", content="exit 3", actor=SYSTEM
        )
        publish_runbook(runbook=runbook, actor=SYSTEM)
        self.runbook = runbook
        self.worker = register_worker(
            account=self.account, group_name="datacenter-east", machine_id="machine-e2e-0001", name="east-01", facts={}
        ).worker
        self.group = self.worker.group
        self.failed = self.run(LONG_REASON)

    def start(self, group="datacenter-east"):
        return job_services.start_job(
            account=self.account,
            runbook_name="restart-service",
            group_name=group,
            actor=Actor(user=self.people.operator),
        )

    def claim(self, job):
        [claimed] = [j for j in job_services.claim_jobs(worker=self.worker, limit=8) if j.pk == job.pk]
        return claimed

    def run(self, reason: str):
        claimed = self.claim(self.start())
        return job_services.finish_job(
            worker=self.worker, job_id=claimed.pk, lease=claimed.lease_id, status="Failed", exit_code=3, reason=reason
        )


def build(people) -> World:
    try:
        return World(people)
    finally:
        connections.close_all()


@pytest.fixture
def world(people, portal_server):
    return off_loop(build, people)


@pytest.fixture
def at_width(browser, portal_server):
    """at_width(width): a signed-in page (Olivia, Owner) that wide; every context is closed afterwards."""
    contexts = []

    def open_page(width: int, username: str = "olivia"):
        context = browser.new_context(viewport={"width": width, "height": 900}, base_url=portal_server)
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        contexts.append(context)
        page = context.new_page()
        sign_in(page, username, PASSWORD)
        expect(page.get_by_role("heading", name="Automation accounts")).to_be_visible()
        return page

    yield open_page
    for context in contexts:
        context.close()


def no_sideways_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


# ---- (a) each detail blade is titled with its resource's name ------------------------------------------------


def test_each_detail_blade_is_titled_with_its_resources_name(world, at_width, shot):
    account = world.account
    blades = [
        (f"/accounts/{account.pk}/runbooks/{world.runbook.pk}/", "restart-service | Runbook", "runbook"),
        (
            f"/accounts/{account.pk}/jobs/{world.failed.pk}/",
            f"Job {str(world.failed.pk)[:8]}… | Runbook: restart-service",
            "job",
        ),
        (f"/accounts/{account.pk}/groups/{world.group.pk}/", "datacenter-east | Hybrid worker group", "group"),
        (f"/accounts/{account.pk}/workers/{world.worker.pk}/", "east-01 | Hybrid worker", "worker"),
    ]
    for width in WIDTHS:
        page = at_width(width)
        for path, heading, name in blades:
            page.goto(path)
            expect(page.locator(".blade-title h1")).to_have_text(heading)
            expect(page).to_have_title(f"{heading} - Automation portal")
            # The account stays in sight: in the breadcrumbs, as on Azure.
            expect(page.locator(".breadcrumbs")).to_contain_text(account.name)
            no_sideways_scroll(page)
            shot(page, f"{name}-{width}")


# ---- (d) a failing job's long reason wraps inside its cell ---------------------------------------------------


# The reason's cell: inside the Essentials, how many lines tall ("normal" line height is about 1.2 times the
# font size), scrolling inside itself for the rest, never sideways. null while the cell has no layout.
MEASURE_REASON = """() => {
  const e = document.querySelector("#job-reason"), box = document.querySelector(".essentials");
  if (!e || !box || !e.isConnected || e.clientHeight === 0) return null;
  const s = getComputedStyle(e), cell = e.getBoundingClientRect();
  const line = parseFloat(s.lineHeight) || 1.2 * parseFloat(s.fontSize);
  return {
    inside: cell.right <= box.getBoundingClientRect().right + 0.5,
    lines: cell.height / line,
    scrolls: e.scrollHeight > e.clientHeight && s.overflowY === "auto",
    sideways: e.scrollWidth > e.clientWidth,
  };
}"""
REASON_FITS = f"""() => {{
  const m = ({MEASURE_REASON})();
  return m !== null && m.inside && m.lines <= 8 && m.scrolls && !m.sideways;
}}"""


def test_a_failing_jobs_long_reason_stays_inside_its_cell(world, at_width, shot):
    """A long reason wraps inside its cell and is clipped to a few lines there (scrolling inside the cell for
    the rest), so the Essentials keep their shape: the rows under it stay in sight."""
    for width in WIDTHS:
        page = at_width(width)
        page.goto(f"/accounts/{world.account.pk}/jobs/{world.failed.pk}/")
        reason = page.locator("#job-reason")
        expect(reason).to_have_text(LONG_REASON)
        # Read from the page in one go, each time it is asked: the live part that holds the reason is fetched
        # again once the live socket opens, and a node swapped out meanwhile has no layout.
        try:
            page.wait_for_function(REASON_FITS, timeout=20_000)
        except PlaywrightTimeout:
            pytest.fail(f"at {width}px the reason's cell measures {page.evaluate(MEASURE_REASON)}")
        no_sideways_scroll(page)
        shot(page, f"failed-job-{width}")


# ---- (b) the jobs list keeps up with a busy account -----------------------------------------------------------


def test_the_jobs_list_shows_a_jobs_new_status_while_other_jobs_keep_changing(world, at_width, shot):
    """Every job's change is pushed to the list; a list that waits for a quiet moment before it fetches again
    never updates on an account where something changes more often than that."""
    job = off_loop(world.start)
    other = off_loop(world.start)
    page = at_width(1280)
    page.goto(f"/accounts/{world.account.pk}/jobs/")
    expect(page.locator("#live-state")).to_have_class(re.compile("connected"))
    row = page.locator(f'tr[data-job-id="{job.pk}"]')
    expect(row.locator(".status")).to_have_text("Queued")

    busy = threading.Event()
    stop = threading.Event()

    def keep_changing():
        # Another job's status pushes, every 50 ms, as a busy account sends them.
        while not stop.is_set():
            live.push_job_status(other)
            busy.set()
            stop.wait(0.05)

    noise = threading.Thread(target=keep_changing, daemon=True)
    noise.start()
    try:
        assert busy.wait(10)

        def take_and_write():
            try:
                claimed = world.claim(job)
                record = job_services.Record(seq=0, stream="output", text="Stopping nginx…", time=claimed.claimed_at)
                job_services.append_records(
                    worker=world.worker, job_id=job.pk, lease=claimed.lease_id, records=[record]
                )
            finally:
                connections.close_all()

        off_loop(take_and_write)
        expect(row.locator(".status")).to_have_text("Running")
    finally:
        stop.set()
        noise.join()
    shot(page, "jobs-list-1280")


# ---- (e) copy buttons keep their icon ------------------------------------------------------------------------


def test_a_copy_button_keeps_its_icon_and_label_after_copying(world, at_width, shot):
    page = at_width(1280)
    page.goto(f"/accounts/{world.account.pk}/groups/{world.group.pk}/")
    page.locator(".commandbar").get_by_role("link", name="Delete").click()
    button = page.get_by_role("dialog").locator("button[data-copy]")
    expect(button.locator("svg")).to_have_count(1)
    button.click()
    expect(button).to_have_text("Copied")
    expect(button.locator("svg")).to_have_count(1)
    shot(page, "copied-1280")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("hybridworker remove --endpoint "), copied
    # Clicked again while it says Copied: it still comes back to Copy.
    button.click()
    expect(button).to_have_text("Copy")
    expect(button.locator("svg")).to_have_count(1)


# ---- (g) the delete-group dialog points at the portal's own Remove ------------------------------------------


def test_the_delete_dialog_of_a_group_with_workers_links_each_worker_to_its_remove(world, at_width, shot):
    for width in WIDTHS:
        page = at_width(width)
        page.goto(f"/accounts/{world.account.pk}/groups/{world.group.pk}/")
        page.locator(".commandbar").get_by_role("link", name="Delete").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Remove")
        expect(dialog).to_contain_text("on its blade")
        shot(page, f"delete-group-dialog-{width}")
        no_sideways_scroll(page)
        dialog.get_by_role("link", name="east-01").click()
        expect(page).to_have_url(re.compile(f"/workers/{world.worker.pk}/$"))
        expect(page.locator(".commandbar").get_by_role("link", name="Remove")).to_be_visible()


# ---- (f) an emptied group remembers when it last saw a worker -----------------------------------------------


def test_an_emptied_group_shows_when_its_last_worker_was_seen(world, at_width, shot):
    off_loop(remove_worker, account=world.account, worker_id=world.worker.pk, actor=Actor(user=world.people.owner))
    for width in WIDTHS:
        page = at_width(width)
        page.goto(f"/accounts/{world.account.pk}/groups/")
        cell = page.locator('tr[data-group="datacenter-east"] td').nth(3)
        expect(cell.locator("time.last-seen")).to_be_visible()
        expect(cell).not_to_contain_text("Never")
        shot(page, f"groups-emptied-{width}")


# ---- (h) removing the last Owner is refused in the dialog ---------------------------------------------------


def test_the_dialog_for_removing_the_last_owner_says_it_cannot_be_done(world, at_width, shot):
    for width in WIDTHS:
        page = at_width(width)
        page.goto(f"/accounts/{world.account.pk}/access/")
        page.locator('tr[data-member="olivia"]').get_by_role("link", name="Remove").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("olivia is the last Owner of contoso-automation")
        expect(dialog).to_contain_text("add another Owner first")
        expect(dialog.get_by_role("button", name="Yes")).to_have_count(0)
        expect(dialog.locator("form")).to_have_count(0)
        shot(page, f"last-owner-dialog-{width}")
        dialog.locator(".buttons").get_by_role("button", name="Close").click()
        expect(dialog).to_have_count(0)

    # With a second Owner, the same dialog asks.
    oscar = Membership.objects.get(account=world.account, user__username="oscar")
    off_loop(change_role, account=world.account, membership_id=oscar.pk, role=Role.OWNER, actor=SYSTEM)
    page = at_width(1280)
    page.goto(f"/accounts/{world.account.pk}/access/")
    page.locator('tr[data-member="olivia"]').get_by_role("link", name="Remove").click()
    expect(page.get_by_role("dialog").get_by_role("button", name="Yes")).to_be_visible()

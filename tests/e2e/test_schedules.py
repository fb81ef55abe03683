"""The Schedules blades in a browser against a real daphne: an Operator adds a weekly schedule (in the browser's
own time zone, its next five runs shown before saving and following each change), links a runbook to it from
the runbook's blade with parameters, and sees the link on both blades; a Reader's list follows live. Every blade
is photographed at 1280 and 390 wide."""

import re

import pytest
from playwright.sync_api import expect

from automation.models import Schedule, ScheduleLink
from tests.e2e.conftest import off_loop, sign_in
from tests.support.builders import make_group, make_runbook

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
ZONE = "America/New_York"
# ms: how long a live update may take on a busy machine; only a failure waits this long.
LIVE = 30_000
PARAMETERS = [
    {"name": "service", "type": "string", "required": True},
    {"name": "count", "type": "int", "required": False, "default": 1},
]


def open_page(browser, base_url: str, user: str, width: int = 1280):
    # The browser's own zone, which + Add a schedule chooses first.
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=base_url, timezone_id=ZONE)
    page = context.new_page()
    sign_in(page, user, PASSWORD)
    expect(page.get_by_role("heading", name="Automation accounts")).to_be_visible()
    return page


def go(page, path: str) -> None:
    page.goto(path)
    expect(page.locator("#live-state")).to_have_class(re.compile("connected"), timeout=LIVE)


def sticking_out(page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll("body *")]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
            .filter((e) => !e.parentElement.closest(".table-wrap"))
            .slice(0, 6)
            .map((e) => e.tagName.toLowerCase() + "." + [...e.classList].join("."))"""
    )


def test_an_operator_adds_a_weekly_schedule_sees_its_next_runs_and_links_a_runbook(
    browser, portal_server, people, shot
):
    off_loop(make_group, people.account, "lab")
    runbook = off_loop(make_runbook, people.account, "backup", parameters=PARAMETERS)
    account = f"/accounts/{people.account.pk}"
    page = open_page(browser, portal_server, "oscar")
    watcher = open_page(browser, portal_server, "rita")
    go(watcher, f"{account}/schedules/")
    expect(watcher.locator("#schedule-table")).to_contain_text("No schedules yet")

    # -- + Add a schedule: the browser's zone, Recurring every week on Monday and Thursday ------------------------
    go(page, f"{account}/schedules/")
    expect(page.locator(".blade-menu a.active")).to_have_text(re.compile("Schedules"))
    page.locator(".commandbar").get_by_text("Add a schedule").click()
    expect(page.locator(".blade-title h1")).to_contain_text("New schedule")
    form = page.locator("#schedule-form")
    expect(form.locator("#id_time_zone")).to_have_value(ZONE)
    # Once: no interval, no days; the Preview button is for browsers without JavaScript.
    expect(form.locator("#id_interval")).to_be_hidden()
    expect(form.locator("#id_week_days_0")).to_be_hidden()
    expect(form.get_by_role("button", name="Preview")).to_be_hidden()
    form.locator("#id_name").fill("Twice-weekly")
    form.locator("#id_start_date").fill("2030-03-04")
    form.locator("#id_start_clock").fill("02:30:00")
    form.get_by_label("Recurring").check()
    form.locator("#id_unit").select_option("Week")
    expect(form.locator("#id_month_days_0")).to_be_hidden()
    form.get_by_label("Monday", exact=True).first.check()
    form.get_by_label("Thursday", exact=True).first.check()
    runs = page.locator("#next-runs table.next-runs tbody tr")
    # The next runs follow the form, before anything is saved; New York moves to EDT on 10 March 2030.
    expect(runs).to_have_count(5)
    expect(runs.nth(0)).to_contain_text("Mon 4 Mar 2030, 02:30:00")
    expect(runs.nth(0)).to_contain_text("Mon 4 Mar 2030, 07:30:00")
    expect(runs.nth(1)).to_contain_text("Thu 7 Mar 2030, 02:30:00")
    expect(runs.nth(2)).to_contain_text("Mon 11 Mar 2030, 02:30:00")
    expect(runs.nth(2)).to_contain_text("Mon 11 Mar 2030, 06:30:00")
    assert not Schedule.objects.exists(), "nothing is saved by a preview"
    shot(page, "schedule-add")
    form.get_by_role("button", name="Create").click()
    expect(page.locator(".blade-title h1")).to_contain_text("Twice-weekly")
    expect(page.locator(".essentials")).to_contain_text("Every week on Monday, Thursday")
    expect(page.locator("#saved-next-runs tbody tr")).to_have_count(5)
    made = Schedule.objects.get()
    assert (made.time_zone, made.frequency, made.week_days) == (ZONE, "Week", ["Monday", "Thursday"])
    shot(page, "schedule-properties")
    # The Reader's list shows it without a reload.
    expect(watcher.locator('tr[data-name="Twice-weekly"]')).to_contain_text(
        "Every week on Monday, Thursday", timeout=LIVE
    )

    # -- The runbook's blade: Schedules → + Add a schedule, with its parameters ----------------------------------
    go(page, f"{account}/runbooks/{runbook.pk}/")
    section = page.locator("#runbook-schedules")
    expect(section).to_contain_text("This runbook is on no schedule yet")
    page.locator(".section-commands").get_by_text("Add a schedule").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Add a schedule")
    dialog.locator("#id_schedule").select_option("Twice-weekly")
    dialog.locator("#id_param_count").fill("3")
    dialog.get_by_label("Skip: start nothing and record why").check()
    dialog.get_by_role("button", name="OK").click()
    # A required parameter left empty: the dialog says so and links nothing.
    expect(dialog.locator("ul.errors")).to_contain_text("Parameter 'service' is required.")
    assert not ScheduleLink.objects.exists()
    dialog.locator("#id_param_service").fill("nginx")
    shot(page, "schedule-link-dialog")
    dialog.get_by_role("button", name="OK").click()
    expect(page.locator(".infobar")).to_contain_text("Linked backup to schedule Twice-weekly")
    expect(section.locator("#schedule-links")).to_contain_text("Twice-weekly")
    expect(section.locator("#schedule-links")).to_contain_text("service=nginx")
    expect(section.locator("#schedule-links")).to_contain_text("Skip")
    made_link = ScheduleLink.objects.get()
    assert made_link.parameters == {"service": "nginx", "count": 3} and made_link.overlap == "skip"
    section.scroll_into_view_if_needed()
    shot(page, "runbook-schedules")
    expect(watcher.locator('tr[data-name="Twice-weekly"] td').last).to_have_text("1", timeout=LIVE)

    # The schedule's blade lists the link; Delete names the runbook before anything goes.
    go(page, f"{account}/schedules/{made.pk}/")
    expect(page.locator("#schedule-links")).to_contain_text("backup")
    page.locator(".commandbar").get_by_text("Delete", exact=True).click()
    expect(page.get_by_role("dialog")).to_contain_text("backup")
    shot(page, "schedule-delete")
    page.get_by_role("dialog").get_by_role("button", name="No").click()

    # -- The same blades on a phone -----------------------------------------------------------------------------
    phone = open_page(browser, portal_server, "oscar", width=390)
    blades = {
        "schedules": "schedules/",
        "schedule-add": "schedules/add/",
        "schedule-properties": f"schedules/{made.pk}/",
        "runbook": f"runbooks/{runbook.pk}/",
    }
    for name, path in blades.items():
        phone.goto(f"{account}/{path}")
        expect(phone.locator(".blade-title h1")).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, (name, sticking_out(phone))
        shot(phone, f"{name}-390")
    for opened in (page, watcher, phone):
        opened.context.close()

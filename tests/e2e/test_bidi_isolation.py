"""Bidi controls in the browser: a U+202E RIGHT-TO-LEFT OVERRIDE in a runbook's description or a job's
parameter value reorders only that string, never what the page shows next to it.

A name cannot hold one at all (the name rule keeps names to ASCII letters, digits, spaces, '-', '_'
and '.'), which the Create dialog says. Every element that shows a string is checked in Chromium:
it is a <bdi> or its computed `unicode-bidi` is `isolate`; and on the job's blade the text after an
overriding value is measured to still read left to right.
"""

import pytest
from playwright.sync_api import expect

from automation.models import Runbook
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.groups import create_group
from automation.services.runbooks import publish_runbook, update_draft
from tests.e2e.conftest import off_loop, sign_in

pytestmark = pytest.mark.e2e

SYSTEM = Actor.for_system()
RLO = "\u202e"
MARK = f"txt{RLO}exe.txt"  # shows as "txttxt.exe"
NAME = "bidi-demo"

# An element shows its strings isolated when it is a <bdi> or the stylesheet isolates it.
ISOLATED = "el => el.tagName === 'BDI' || getComputedStyle(el).unicodeBidi === 'isolate'"
# The element that holds a text node with an override, and whether it is isolated.
HOLDERS = """root => {
  const found = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.data.includes("\\u202e")) continue;
    const el = node.parentElement;
    const alone = [...el.childNodes].every(n => n === node || (n.nodeType === 3 && !n.data.trim()));
    const isolated = el.tagName === "BDI" || getComputedStyle(el).unicodeBidi === "isolate";
    found.push({tag: el.tagName, alone, isolated});
  }
  return found;
}"""
# Where the first character of `word` and the one after it are drawn, in the text after an override; null
# until they are laid out (a live part of the page may be swapped in just then: it is read again).
READING_ORDER = """([selector, word]) => {
  const root = document.querySelector(selector);
  if (!root) return null;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const i = node.data.indexOf(word);
    if (i < 0) continue;
    const at = k => {
      const r = document.createRange();
      r.setStart(node, k);
      r.setEnd(node, k + 1);
      return r.getBoundingClientRect();
    };
    const [first, next] = [at(i), at(i + 1)];
    return first.width && next.width ? [first.left, next.left] : null;
  }
  return null;
}"""


def reading_order(page, selector: str, word: str) -> tuple[float, float]:
    return tuple(page.wait_for_function(READING_ORDER, arg=[selector, word]).json_value())


# `check` run on the element `selector` names as the page is then: a live part fetched again when the live
# socket opens replaces its elements, and one read just as it is swapped out has no style or layout.
# (Composed here, not eval'ed in the page: the Content-Security-Policy forbids eval.)
ON_THE_PAGE = """selector => {
  const el = document.querySelector(selector);
  if (!el || !el.isConnected || !el.getClientRects().length) return null;
  return {result: (CHECK)(el)};
}"""


def on_the_page(page, selector: str, check: str):
    function = ON_THE_PAGE.replace("CHECK", check)
    return page.wait_for_function(function, arg=selector).json_value()["result"]


def assert_every_override_isolated(page, root: str = "main", *, at_least: int = 1) -> None:
    holders = on_the_page(page, root, HOLDERS)
    assert len(holders) >= at_least, holders
    assert all(h["alone"] and h["isolated"] for h in holders), holders


CELLS_ISOLATED = f"row => [...row.querySelectorAll('td')].map({ISOLATED})"


def test_a_right_to_left_override_stays_inside_its_own_string(page, people, shot):
    off_loop(create_group, account=people.account, name="lab", actor=SYSTEM)
    sign_in(page, "oscar", "correct horse battery")
    page.goto(f"/accounts/{people.account.pk}/runbooks/")

    # A name cannot hold the override: the dialog says what a name may hold.
    page.locator(".commandbar").get_by_role("link", name="Create a runbook").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill(f"invoice{RLO}fdp.exe")
    dialog.get_by_label("Runbook type").select_option(label="Bash")
    dialog.get_by_role("button", name="Create", exact=True).click()
    expect(dialog).to_contain_text("Names are 1 to 128 characters")
    shot(page, "name-refused")

    # A description can, and does.
    dialog.get_by_label("Name").fill(NAME)
    dialog.get_by_label("Description").fill(MARK)
    dialog.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator(".infobar")).to_contain_text(f"Created runbook {NAME}.")
    runbook = Runbook.objects.get(name=NAME)
    assert runbook.description == MARK

    # The runbook blade: its title and breadcrumb, and the description in the editor form.
    title = page.locator(".blade-title h1 > span")
    crumb = page.locator(".breadcrumbs > span").last
    expect(crumb).to_have_text(NAME)
    assert title.evaluate(ISOLATED) and crumb.evaluate(ISOLATED)
    expect(page.get_by_label("Description")).to_have_value(MARK)

    # The Runbooks list: every cell of the row, the description's among them.
    page.goto(f"/accounts/{people.account.pk}/runbooks/")
    row = page.locator(f'tr[data-runbook="{NAME}"]')
    expect(row.locator("td").last).to_have_text(MARK)
    cells = on_the_page(page, f'tr[data-runbook="{NAME}"]', CELLS_ISOLATED)
    assert cells and all(cells), cells
    assert_every_override_isolated(page, "#runbooks")
    shot(page, "runbooks-1280")

    # A job whose first parameter value overrides; the next one must still read left to right.
    declared = [{"name": "a", "type": "string"}, {"name": "other", "type": "string"}]
    off_loop(update_draft, runbook=runbook, actor=SYSTEM, content="echo hi", parameters=declared)
    off_loop(publish_runbook, runbook=runbook, actor=SYSTEM)
    job = off_loop(
        job_services.start_job,
        account=people.account,
        runbook_name=NAME,
        group_name="lab",
        parameters={"a": MARK, "other": "zzz"},
        actor=SYSTEM,
    )

    page.goto(f"/accounts/{people.account.pk}/jobs/")
    job_row = page.locator(f'tr[data-job-id="{job.pk}"]')
    expect(job_row.locator("td").first).to_have_text(NAME)
    cells = on_the_page(page, f'tr[data-job-id="{job.pk}"]', CELLS_ISOLATED)
    assert cells and all(cells), cells

    page.goto(f"/accounts/{people.account.pk}/jobs/{job.pk}/")
    crumb = page.locator(".breadcrumbs > span").last
    assert crumb.evaluate(ISOLATED)
    inputs = page.locator(".essentials dd.mono")
    expect(inputs).to_contain_text("other=zzz")
    assert_every_override_isolated(page, ".essentials")
    o, t = reading_order(page, ".essentials dd.mono", "other=")
    assert o < t, "the text after the override is drawn right to left"
    shot(page, "job-1280")

    # The same at a phone's width, where the essentials fold into one column.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(inputs).to_contain_text("other=zzz")
    o, t = reading_order(page, ".essentials dd.mono", "other=")
    assert o < t
    shot(page, "job-390")
    page.goto(f"/accounts/{people.account.pk}/runbooks/")
    assert_every_override_isolated(page, "#runbooks")
    shot(page, "runbooks-390")

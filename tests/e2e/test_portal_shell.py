import re

import pytest
from playwright.sync_api import expect

from automation.services.notifications import create_notification, update_notification
from tests.e2e.conftest import off_loop, sign_in

pytestmark = pytest.mark.e2e


def test_a_member_signs_in_opens_the_account_and_gets_a_notification_live(page, people, shot):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    shot(page, "login")

    sign_in(page, "olivia", "correct horse battery")
    expect(page.get_by_role("heading", name="Automation accounts")).to_be_visible()
    expect(page.get_by_role("link", name="contoso-automation")).to_be_visible()
    # Another account's name never shows up for someone who is not its member.
    expect(page.get_by_text("fabrikam-automation")).to_have_count(0)
    shot(page, "home")

    page.get_by_role("link", name="contoso-automation").click()
    expect(page.locator(".blade-title h1")).to_contain_text("contoso-automation | Overview")
    expect(page.locator(".essentials")).to_contain_text(str(people.account.pk))
    expect(page.locator(".tile", has_text="Members").locator(".value")).to_have_text("3")
    expect(page.locator("#live-state")).to_have_class(re.compile("connected"))
    shot(page, "overview")

    # Created by the service in this process; it reaches the open page over the socket.
    note = off_loop(
        create_notification,
        account=people.account,
        title="Deleting hybrid worker group",
        message="lab-linux",
        state="in_progress",
    )
    # The toast shows at once and goes after 6 s; the count needs a fetch, which a busy machine may make
    # take longer than that: the toast first.
    expect(page.locator(".toast")).to_contain_text("Deleting hybrid worker group")
    expect(page.locator("#bell-count")).to_have_text("1")
    shot(page, "toast")

    page.locator("#bell").click()
    expect(page.locator("#notifications-panel")).to_be_visible()
    item = page.locator(f'[data-notification="{note.pk}"]')
    expect(item).to_have_attribute("data-state", "in_progress")

    off_loop(update_notification, notification=note, state="succeeded", title="Deleted hybrid worker group lab-linux")
    expect(item).to_have_attribute("data-state", "succeeded")
    expect(item).to_contain_text("Deleted hybrid worker group lab-linux")
    shot(page, "panel")


def test_an_owner_adds_a_member_through_the_dialog(page, people, make_user, shot):
    make_user("nina")
    sign_in(page, "olivia", "correct horse battery")
    page.goto(f"/accounts/{people.account.pk}/access/")
    page.get_by_text("Add role assignment").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.locator("#id_username").fill("nobody-here")
    dialog.get_by_role("button", name="Add").click()
    expect(dialog).to_contain_text("There is no active user named 'nobody-here'")
    shot(page, "add-error")

    dialog.locator("#id_username").fill("nina")
    dialog.locator("#id_role").select_option("operator")
    dialog.get_by_role("button", name="Add").click()
    expect(page.locator('tr[data-member="nina"]')).to_be_visible()
    expect(page.locator(".infobar")).to_contain_text("Added nina as Operator")
    shot(page, "added")

    page.locator('tr[data-member="nina"]').get_by_text("Remove").click()
    expect(page.get_by_role("dialog")).to_contain_text("Are you sure you want to remove nina")
    shot(page, "remove-dialog")
    page.get_by_role("dialog").get_by_role("button", name="Yes").click()
    expect(page.locator('tr[data-member="nina"]')).to_have_count(0)


def test_the_shell_reads_on_a_narrow_window(browser, portal_server, people, shot):
    context = browser.new_context(viewport={"width": 420, "height": 800}, base_url=portal_server)
    page = context.new_page()
    sign_in(page, "olivia", "correct horse battery")
    page.goto(f"/accounts/{people.account.pk}/")
    expect(page.locator(".blade-menu a.active")).to_have_text(re.compile("Overview"))
    # Nothing spills sideways: the page is no wider than the window.
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    shot(page, "narrow")
    context.close()

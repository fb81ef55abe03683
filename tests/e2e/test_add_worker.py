"""Add a worker in the browser: the group blade's command opens the two lines to paste, each with Copy."""

import pytest
from playwright.sync_api import expect

from automation.agent_package import install_line, register_line
from automation.services.actor import Actor
from automation.services.groups import create_group
from automation.services.keys import agent_service_url
from tests.e2e.conftest import off_loop, sign_in

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("width", [1280, 390])
def test_an_operator_opens_add_a_worker_and_copies_both_lines(browser, portal_server, people, settings, shot, width):
    group = off_loop(create_group, account=people.account, name="datacenter east", actor=Actor.for_system())
    settings.PORTAL_BASE_URL = portal_server  # what daphne, started with it, puts in the lines
    expected = {
        "#install-line": install_line(portal_server),
        "#register-line": register_line(endpoint=agent_service_url(people.account), group_name=group.name),
    }
    context = browser.new_context(viewport={"width": width, "height": 844}, base_url=portal_server)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal_server)
    page = context.new_page()
    try:
        sign_in(page, "oscar", "correct horse battery")
        page.goto(f"/accounts/{people.account.pk}/groups/{group.pk}/")
        page.locator(".commandbar").get_by_text("Add a worker").click()

        dialog = page.get_by_role("dialog", name="Add a worker")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("1. Install the agent")
        expect(dialog).to_contain_text("2. Register this machine")
        expect(dialog).to_contain_text("--state-dir DIR")
        for target, line in expected.items():
            expect(dialog.locator(target)).to_have_text(line)
            assert dialog.locator(target).bounding_box()["width"] > 0
        shot(page, f"dialog-{width}")
        box = dialog.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, "the dialog fits the window"

        for target, line in expected.items():
            button = dialog.locator(f'[data-copy="{target}"]')
            button.click()
            expect(button).to_contain_text("Copied")
            assert page.evaluate("navigator.clipboard.readText()") == line
        shot(page, f"copied-{width}")

        dialog.locator(".buttons").get_by_role("button", name="Close").click()
        expect(dialog).to_have_count(0)
    finally:
        context.close()

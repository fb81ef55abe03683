"""Hybrid worker group settings in the browser: Run as Default / Custom, the credential picker shown only for
Custom, Save, and the blade saying who the group's jobs run as."""

import pytest
from playwright.sync_api import expect

from automation.services.actor import Actor
from automation.services.credentials import create_credential
from automation.services.groups import create_group
from tests.e2e.conftest import off_loop, sign_in

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("width", [1280, 390])
def test_an_operator_sets_the_groups_run_as_to_a_credential(browser, portal_server, people, shot, width):
    system = Actor.for_system()
    group = off_loop(create_group, account=people.account, name="datacenter east", actor=system)
    off_loop(
        create_credential, account=people.account, name="Deploy", username="deploy", password="Pa55-word", actor=system
    )
    context = browser.new_context(viewport={"width": width, "height": 844}, base_url=portal_server)
    page = context.new_page()
    try:
        sign_in(page, "oscar", "correct horse battery")
        page.goto(f"/accounts/{people.account.pk}/groups/{group.pk}/")
        settings = page.locator("#group-settings")
        expect(settings).to_contain_text("Hybrid worker group settings")
        expect(page.locator("#group-run-as")).to_have_text("Default")
        settings.get_by_text("Change").click()

        dialog = page.get_by_role("dialog", name="Hybrid worker group settings")
        expect(dialog).to_be_visible()
        picker = dialog.locator("#id_run_as_credential")
        expect(picker).to_be_hidden()
        shot(page, f"default-{width}")
        dialog.locator("#id_run_as").select_option("custom")
        expect(picker).to_be_visible()
        picker.select_option("Deploy")
        box = dialog.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, "the dialog fits the window"
        shot(page, f"custom-{width}")
        dialog.get_by_role("button", name="Save").click()

        expect(page.locator("#group-run-as")).to_have_text("Custom: credential Deploy (user deploy)")
        expect(settings).to_contain_text("--allow-run-as deploy")
        shot(page, f"saved-{width}")
    finally:
        context.close()

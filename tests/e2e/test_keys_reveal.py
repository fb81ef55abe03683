"""The Keys blade in a browser: Show reveals the keys with a POST (with CSRF), once per click, with
JavaScript (htmx swaps the values in) and without it (the form posts and the blade comes back)."""

import pytest
from playwright.sync_api import expect

from automation.models import AuditEvent
from automation.services.actor import Actor
from automation.services.keys import reveal_keys
from tests.e2e.conftest import off_loop, sign_in

pytestmark = pytest.mark.e2e


def reveals_by(user) -> int:
    return off_loop(lambda: AuditEvent.objects.filter(action="keys.reveal", actor=user).count())


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-js"])
def test_an_owner_clicks_show_and_sees_both_keys_with_one_audited_reveal(
    browser, portal_server, people, shot, javascript
):
    keys = off_loop(reveal_keys, account=people.account, actor=Actor.for_system())
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, base_url=portal_server, java_script_enabled=javascript
    )
    page = context.new_page()
    try:
        sign_in(page, "olivia", "correct horse battery")
        page.goto(f"/accounts/{people.account.pk}/keys/")
        expect(page.locator("code.masked")).to_have_count(2)
        assert keys["primary"] not in page.content()
        assert reveals_by(people.owner) == 0

        page.get_by_role("button", name="Show").first.click()

        expect(page.locator("#key-primary")).to_have_text(keys["primary"])
        expect(page.locator("#key-secondary")).to_have_text(keys["secondary"])
        expect(page.locator("code.masked")).to_have_count(0)
        shot(page, "revealed")
        assert reveals_by(people.owner) == 1
    finally:
        context.close()

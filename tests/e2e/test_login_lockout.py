"""In a browser against daphne: repeated wrong passwords lock the sign-in with a page that says so, on the
portal and in the admin; the admin's pages load without a missing icon."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"


@pytest.fixture
def olivia(make_user):
    return make_user("olivia", staff=True)


def test_the_portals_sign_in_locks_after_repeated_failures_and_says_so(page, olivia, shot):
    for i in range(5):
        sign_in(page, "olivia", f"guess-{i}")

    sign_in(page, "olivia", PASSWORD)

    expect(page.get_by_role("heading", name="Sign-in locked")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    expect(page.get_by_role("alert")).to_contain_text("Try again in 15 minutes")
    shot(page, "locked")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))


def test_the_admins_login_locks_too_and_its_pages_find_their_icon(page, olivia, shot):
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)

    for i in range(5):
        page.goto("/admin/login/")
        page.fill("#id_username", "olivia")
        page.fill("#id_password", f"guess-{i}")
        page.click("input[type=submit]")
    page.goto("/admin/login/")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")

    expect(page.locator(".errornote")).to_contain_text("Too many failed sign-ins")
    shot(page, "admin-locked")
    assert missing == []

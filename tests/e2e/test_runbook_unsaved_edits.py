"""What a person types in the runbook editor is never lost: Publish publishes exactly the editor's text
(saving it first, in one step) and says so; leaving the page with unsaved text (a menu link, the command
bar, the breadcrumb, closing the tab) makes the browser ask first, and nothing asks once the text is
saved; the authoring status says "In edit" while the saved draft differs from the published version.

Only daphne is needed (no agent, no Celery): the e2e conftest's `page` fixture.
"""

import re

import pytest
from django.db import connections
from playwright.sync_api import expect

from automation.models import AuditEvent, Runbook, RunbookVersion
from automation.services.actor import Actor
from automation.services.runbooks import create_runbook, publish_runbook
from tests.e2e.conftest import off_loop, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
NAME = "rotate-logs"


def make_runbook(people, *, content: str = "", publish: bool = False) -> Runbook:
    def make() -> Runbook:
        try:
            runbook = create_runbook(
                account=people.account,
                name=NAME,
                runbook_type="bash",
                description="Rotates the web logs.",
                content=content,
                actor=Actor.for_system(),
            )
            if publish:
                publish_runbook(runbook=runbook, actor=Actor.for_system())
            return runbook
        finally:
            connections.close_all()  # this thread's own connection: left open, it would keep the test DB busy

    return off_loop(make)


class Dialogs:
    """Every dialog the page opens, dismissed (for a beforeunload one: Stay on the page)."""

    def __init__(self, page) -> None:
        self.seen: list[str] = []
        page.on("dialog", self._dismiss)

    def _dismiss(self, dialog) -> None:
        self.seen.append(dialog.type)
        dialog.dismiss()

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        return seen


def open_runbook(page) -> None:
    page.locator(".blade-menu").get_by_role("link", name="Runbooks", exact=True).click()
    page.locator("#runbooks").get_by_role("link", name=NAME).click()
    expect(page.locator(".breadcrumbs")).to_contain_text(NAME)
    expect(page.locator("#runbook-form .ace_editor")).to_be_visible()


def sign_in_to_the_account(page, people) -> None:
    sign_in(page, people.operator.username, PASSWORD)
    page.get_by_role("link", name="contoso-automation").click()


def type_at_the_end(page, text: str) -> None:
    """Typed for real, key by key, at the end of the draft."""
    page.locator("#runbook-form .ace_content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


def editor_value(page) -> str:
    return page.evaluate("ace.edit(document.querySelector('#runbook-form .ace_editor')).getValue()")


def authoring_status(page):
    return page.locator(".essentials dt", has_text="Authoring status").locator("xpath=following-sibling::dd[1]")


def publish(page) -> None:
    with page.expect_navigation():
        page.locator(".commandbar").get_by_role("button", name="Publish", exact=True).click()


def test_publish_publishes_exactly_what_the_editor_shows_and_says_so(page, people, shot):
    runbook = make_runbook(people)
    dialogs = Dialogs(page)
    sign_in_to_the_account(page, people)
    open_runbook(page)
    expect(authoring_status(page)).to_have_text("New (not published)")
    expect(page.locator(".publish-hint")).to_have_text(
        "Publish saves the editor's changes and publishes them as version 1."
    )

    # 1. An empty draft, text typed and never saved, then Publish: that text is version 1.
    type_at_the_end(page, 'echo "rotating"')
    page.keyboard.press("Enter")
    page.keyboard.type("logrotate -f /etc/logrotate.conf")
    first = 'echo "rotating"\nlogrotate -f /etc/logrotate.conf'
    assert editor_value(page) == first
    expect(page.locator("#draft-state")).to_have_text("Unsaved changes")
    page.locator(".publish-hint").scroll_into_view_if_needed()
    shot(page, "01-typed-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator(".publish-hint").scroll_into_view_if_needed()
    expect(page.locator(".publish-hint")).to_be_in_viewport()
    shot(page, "02-typed-390")
    page.set_viewport_size({"width": 1280, "height": 800})
    publish(page)

    expect(page.locator(".infobar")).to_have_text(
        f"Saved the editor's changes and published them as version 1 of {NAME}."
    )
    expect(authoring_status(page)).to_have_text("Published (version 1)")
    assert editor_value(page) == first
    version = RunbookVersion.objects.get(runbook=runbook)
    assert (version.number, version.content) == (1, first)
    runbook.refresh_from_db()
    assert runbook.draft == first
    expect(page.locator("#versions tbody tr")).to_have_count(1)
    expect(page.locator(".publish-hint")).to_contain_text("as version 2.")
    shot(page, "03-published")

    # 2. A saved draft, more text typed and not saved, then Publish: the typed text is version 2, not
    # the saved draft.
    type_at_the_end(page, " --verbose")
    second = first + " --verbose"
    publish(page)
    expect(page.locator(".infobar")).to_have_text(
        f"Saved the editor's changes and published them as version 2 of {NAME}."
    )
    assert RunbookVersion.objects.get(runbook=runbook, number=2).content == second
    expect(authoring_status(page)).to_have_text("Published (version 2)")
    # Publish submitted the page's own form: the browser never asked about leaving it.
    assert dialogs.take() == []

    # 3. A refused Publish (the parameters are not JSON) saves and publishes nothing, and comes back
    # with everything as typed, still unsaved: leaving asks.
    form = page.locator("#runbook-form")
    form.get_by_label("Parameters (JSON)").fill('[{"name": "days"')
    type_at_the_end(page, " --force")
    publish(page)
    expect(page.locator(".publish-refused")).to_contain_text("The draft was not saved and nothing was published.")
    expect(form.locator(".field", has=page.get_by_label("Parameters (JSON)"))).to_contain_text("Not valid JSON")
    assert editor_value(page) == second + " --force"
    expect(form.get_by_label("Parameters (JSON)")).to_have_value('[{"name": "days"')
    expect(page.locator("#draft-state")).to_have_text("Unsaved changes")
    shot(page, "04-refused")
    with page.expect_event("dialog"):
        page.locator(".blade-menu").get_by_role("link", name="Jobs", exact=True).click()
    assert dialogs.take() == ["beforeunload"]
    runbook.refresh_from_db()
    assert (runbook.draft, runbook.parameters) == (second, [])

    form.get_by_label("Parameters (JSON)").fill('[{"name": "days", "type": "int", "default": 7}]')
    publish(page)
    expect(page.locator(".infobar")).to_have_text(
        f"Saved the editor's changes and published them as version 3 of {NAME}."
    )
    third = RunbookVersion.objects.get(runbook=runbook, number=3)
    assert third.content == second + " --force"
    assert third.parameters == [{"name": "days", "type": "int", "required": False, "default": 7}]
    assert dialogs.take() == []
    assert AuditEvent.objects.filter(action="runbook.publish").count() == 3


def test_leaving_with_unsaved_text_asks_first_and_nothing_asks_once_it_is_saved(page, people, shot):
    runbook = make_runbook(people, content='echo "rotating"', publish=True)
    dialogs = Dialogs(page)
    sign_in_to_the_account(page, people)
    open_runbook(page)
    blade_url = page.url

    # Nothing changed: a menu link just goes.
    page.locator(".blade-menu").get_by_role("link", name="Jobs", exact=True).click()
    expect(page).to_have_url(re.compile(r"/jobs/$"))
    assert dialogs.take() == []
    page.goto(blade_url)

    # 1. Typed and not saved: each way off the page asks, and Stay keeps the page and the text.
    type_at_the_end(page, "\nlogrotate -f /etc/logrotate.conf")
    typed = 'echo "rotating"\nlogrotate -f /etc/logrotate.conf'
    ways_out = {
        "menu link": page.locator(".blade-menu").get_by_role("link", name="Overview", exact=True),
        "command bar": page.locator(".commandbar").get_by_role("link", name="Jobs", exact=True),
        "breadcrumb": page.locator(".breadcrumbs").get_by_role("link", name="Runbooks", exact=True),
    }
    for way, link in ways_out.items():
        with page.expect_event("dialog"):
            link.click()
        assert dialogs.take() == ["beforeunload"], way
        assert page.url == blade_url, way
        assert editor_value(page) == typed, way
    # The authoring status is the server's (typing changes nothing there); the command bar tells.
    expect(authoring_status(page)).to_have_text("Published (version 1)")
    expect(page.locator("#draft-state")).to_have_text("Unsaved changes")

    # Closing the tab asks too.
    with page.expect_event("dialog"):
        page.close(run_before_unload=True)
    assert dialogs.take() == ["beforeunload"]
    assert not page.is_closed()

    # 2. Saved: the saved draft differs from version 1, so the blade and the list say "In edit"; and
    # nothing asks on leaving.
    with page.expect_navigation():
        page.locator("#runbook-form").get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".infobar")).to_have_text("Saved the draft.")
    expect(authoring_status(page)).to_have_text("In edit (version 1 is published)")
    expect(page.locator("#draft-state")).to_be_hidden()
    runbook.refresh_from_db()
    assert runbook.draft == typed
    shot(page, "01-in-edit-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(authoring_status(page)).to_be_in_viewport()
    shot(page, "02-in-edit-390")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.locator(".breadcrumbs").get_by_role("link", name="Runbooks", exact=True).click()
    expect(page.locator(f'#runbooks tr[data-runbook="{NAME}"]')).to_contain_text("In edit (v1)")
    assert dialogs.take() == []
    shot(page, "03-list-in-edit")

    # 3. Typed, then undone back to the saved text: nothing to lose, nothing asks.
    open_runbook(page)
    type_at_the_end(page, "x")
    page.keyboard.press("Backspace")
    assert editor_value(page) == typed
    page.locator(".blade-menu").get_by_role("link", name="Overview", exact=True).click()
    expect(page.locator(".breadcrumbs")).not_to_contain_text(NAME)
    assert dialogs.take() == []


def test_deleting_the_runbook_with_unsaved_text_asks_only_the_delete_question(page, people):
    make_runbook(people, content='echo "rotating"')
    dialogs = Dialogs(page)
    sign_in_to_the_account(page, people)
    open_runbook(page)

    type_at_the_end(page, "\necho never saved")
    page.locator(".commandbar").get_by_role("link", name="Delete", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Yes").click()

    expect(page.locator(".infobar")).to_have_text(f"Deleted runbook {NAME}.")
    assert dialogs.take() == []
    assert not Runbook.objects.filter(name=NAME).exists()


def test_without_javascript_publish_posts_the_plain_forms_text(browser, portal_server, people):
    runbook = make_runbook(people, content='echo "rotating"', publish=True)
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, base_url=portal_server, java_script_enabled=False
    )
    try:
        page = context.new_page()
        sign_in_to_the_account(page, people)
        page.locator(".blade-menu").get_by_role("link", name="Runbooks", exact=True).click()
        page.locator("#runbooks").get_by_role("link", name=NAME).click()
        draft = page.locator("#runbook-form").get_by_label("Draft", exact=True)
        expect(draft).to_be_visible()  # no editor: the plain textarea

        draft.fill('echo "rotating"\nlogrotate /etc/logrotate.conf\n')
        page.locator(".commandbar").get_by_role("button", name="Publish", exact=True).click()

        expect(page.locator(".infobar")).to_have_text(
            f"Saved the editor's changes and published them as version 2 of {NAME}."
        )
        assert RunbookVersion.objects.get(runbook=runbook, number=2).content == (
            'echo "rotating"\nlogrotate /etc/logrotate.conf\n'
        )
    finally:
        context.close()

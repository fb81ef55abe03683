"""Browser tests: Playwright driving Debian's Chromium against a real daphne process."""

import os

import pytest
from playwright.sync_api import expect

from tests.support.processes import start_daphne

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still
# plain synchronous code, so Django's async-safety guard would misfire.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Playwright's assertions give up after 5 s by default: enough for an idle machine, not for a page that
# waits on daphne while two cores also run other suites. A passing assertion returns as soon as it holds.
EXPECT_TIMEOUT_MS = 15_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Module scope: while Playwright runs, this thread has a running event loop, which breaks
# async_to_sync in every later test; it must be gone when the module ends.
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (the CI script does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def portal_server(server_env, log_dir, transactional_db):
    process, url = start_daphne(server_env, log_dir)
    yield url
    process.stop()


@pytest.fixture
def page(browser, portal_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=portal_server)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def shot(artifacts_dir, request):
    """shot(page, "name"): save a screenshot under test-artifacts/ for a person to look at."""

    def take(page, name: str) -> None:
        page.screenshot(path=str(artifacts_dir / f"{request.node.name}-{name}.png"), full_page=False)

    return take


def sign_in(page, username: str, password: str) -> None:
    page.goto("/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def off_loop(fn, /, *args, **kwargs):
    """Call a service from a plain thread: this one runs Playwright's event loop, and the
    service's after-commit push (async_to_sync) refuses to run inside a loop."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def call():
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()  # the thread's own connection: left open, it keeps the test database busy

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()

"""Signing out closes that browser session's live sockets, and only those.

Real daphne, real WebSocket clients over TCP, the real Redis channel layer: the sign-out is a POST to
daphne and the account event comes from this test process, so both reach the socket through Redis.

"Received nothing after the sign-out" is proved by order, not by waiting: the sign-out's close is
queued before the event, so a socket that was not closed would receive the event as its next message.
A second browser of the same user, still signed in, must receive that very event.
"""

import json
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from automation.services.notifications import create_notification
from tests.support.browser_socket import BrowserSession, close_code, next_message, refused
from tests.support.processes import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)

SIGNED_OUT = 4401


@pytest.fixture
def portal(server_env, log_dir):
    # Every push re-checks the session here, so a flushed session is noticed at the next push.
    process, url = start_daphne({**server_env, "LIVE_SESSION_CHECK_SECONDS": "0"}, log_dir)
    yield url
    process.stop()


@pytest.fixture
def portal_checking_rarely(server_env, log_dir):
    # No push re-checks the session within the test: only the sign-out itself can close the sockets.
    process, url = start_daphne({**server_env, "LIVE_SESSION_CHECK_SECONDS": "3600"}, log_dir)
    yield url
    process.stop()


def test_signing_out_closes_that_sessions_sockets_before_the_next_event(people, portal_checking_rarely):
    portal = portal_checking_rarely
    leaving = BrowserSession(portal, people.owner)
    staying = BrowserSession(portal, people.owner)  # the same user in another browser
    try:
        tabs = [leaving.open_socket(), leaving.open_socket()]
        other = staying.open_socket()

        answer = leaving.sign_out()
        assert answer.status_code == 302, answer.text[:500]
        create_notification(account=people.account, title="After the sign-out")

        for tab in tabs:
            assert close_code(tab) == SIGNED_OUT
        pushed = json.loads(next_message(other))
        assert pushed["notification"]["title"] == "After the sign-out"
    finally:
        leaving.close()
        staying.close()


def test_a_session_ended_elsewhere_stops_its_open_socket_at_the_next_event(people, portal):
    browser = BrowserSession(portal, people.reader)
    try:
        tab = browser.open_socket()
        # Not a sign-out of this browser: the session is gone from the store (an administrator's
        # "sign out everywhere", a purge), so no signal tells the socket.
        Session.objects.filter(session_key=browser.session_key).delete()
        create_notification(account=people.account, title="After the session ended")
        assert close_code(tab) == SIGNED_OUT
    finally:
        browser.close()


def test_a_socket_with_an_expired_or_ended_session_is_refused(people, portal):
    expired = BrowserSession(portal, people.owner)
    Session.objects.filter(session_key=expired.session_key).update(expire_date=timezone.now() - timedelta(minutes=1))
    ended = BrowserSession(portal, people.owner)
    ended.sign_out()
    current = BrowserSession(portal, people.owner)

    assert refused(portal, origin=portal, cookie=current.session_key) is None  # the control
    assert refused(portal, origin=portal, cookie=expired.session_key) == 403
    assert refused(portal, origin=portal, cookie=ended.session_key) == 403

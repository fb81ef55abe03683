"""Only the portal's own pages (and the origins the settings trust) may open the live socket.

A browser sends the page's Origin with every WebSocket handshake and the session cookie with it,
whatever site the page came from: another web application on the same machine (same host, other
port) must not read a signed-in user's pushes. Host names alone do not tell them apart; scheme,
host and port do.
"""

import json

import pytest
from django.conf import settings
from django.test import override_settings

from tests.support.browser_socket import BrowserSession, next_message, refused
from tests.support.processes import start_daphne
from tests.support.websocket import Sockets, run, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

TRUSTED = "https://portal.example"


@pytest.fixture
def portal(server_env, log_dir):
    process, url = start_daphne({**server_env, "CSRF_TRUSTED_ORIGINS": f"{TRUSTED},https://*.corp.example"}, log_dir)
    yield url
    process.stop()


def test_the_portals_own_origin_and_the_trusted_ones_open_the_socket(people, portal):
    cookie = session_cookie(people.owner)
    for origin in [portal, TRUSTED, "https://portal.example:443", "https://eu.corp.example"]:
        assert refused(portal, origin=origin, cookie=cookie) is None, origin
    browser = BrowserSession(portal, cookie=cookie)
    try:
        socket = browser.open_socket()
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(next_message(socket)) == {"type": "pong"}  # accepted and served
    finally:
        browser.close()


def test_a_foreign_origin_on_the_same_host_is_refused_before_the_socket_opens(people, portal):
    cookie = session_cookie(people.owner)
    port = int(portal.rsplit(":", 1)[1])
    other_port = 1234 if port != 1234 else 1235
    foreign = [
        f"http://127.0.0.1:{other_port}",  # another application on this machine
        f"http://localhost:{other_port}",
        f"https://127.0.0.1:{port}",  # same host and port, other scheme
        "http://127.0.0.1",  # port 80 is another origin too
        f"http://localhost:{port}",  # a name the portal answers to, but not the one this page was served as
        "http://portal.example",  # a trusted origin's host over another scheme
        "https://portal.example:8443",
        "https://corp.example.evil.test",
        "https://evil.example",
        "null",  # sandboxed frames and file: pages
        f"http://127.0.0.1:{port}/path",  # not an origin at all
    ]
    for origin in foreign:
        assert refused(portal, origin=origin, cookie=cookie) == 403, origin
    # Browsers always send Origin on a WebSocket handshake, so a client without one is not a portal page:
    # scripts have the API. Refusing it keeps the rule closed by default.
    assert refused(portal, origin=None, cookie=cookie) == 403


@override_settings(
    ALLOWED_HOSTS=["portal.example"],
    TRUSTED_PROXIES=["10.0.0.0/8"],
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    CSRF_TRUSTED_ORIGINS=[],
)
def test_behind_a_tls_proxy_the_portals_origin_is_https_as_the_proxy_says(people):
    cookie = session_cookie(people.owner)

    def headers(origin: str, *, proto: str | None) -> list[tuple[bytes, bytes]]:
        result = [
            (b"host", b"portal.example"),
            (b"origin", origin.encode()),
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        ]
        if proto is not None:
            result.append((b"x-forwarded-proto", proto.encode()))
        return result

    async def scenario():
        async with Sockets() as sockets:
            results = {}
            proxy, stranger = ("10.0.0.5", 40000), ("192.0.2.9", 40000)
            for name, handshake, peer in [
                ("https page via the proxy", headers("https://portal.example", proto="https"), proxy),
                ("http page via the proxy", headers("http://portal.example", proto="https"), proxy),
                ("https page, no proxy header", headers("https://portal.example", proto=None), proxy),
                ("other port via the proxy", headers("https://portal.example:8443", proto="https"), proxy),
                # The scheme header is believed only from TRUSTED_PROXIES, as for every request.
                ("https page, header from a stranger", headers("https://portal.example", proto="https"), stranger),
            ]:
                _, accepted, _ = await sockets.try_open(handshake, name, peer)
                results[name] = accepted
            return results

    assert run(scenario) == {
        "https page via the proxy": True,
        "http page via the proxy": False,
        "https page, no proxy header": False,
        "other port via the proxy": False,
        "https page, header from a stranger": False,
    }

"""A real WebSocket client against a real daphne, signed in as a browser is (session cookie, Origin).

Unlike tests/support/websocket.py (in-process communicators), these sockets cross a TCP connection
and daphne's own handshake, so what they see is what a browser tab sees.
"""

import contextlib

import httpx
from django.conf import settings
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.support.websocket import LIVE_PATH, PUSH_TIMEOUT, session_cookie

HANDSHAKE_TIMEOUT = 30


class BrowserSession:
    """One signed-in browser: its session cookie, its CSRF token, its tabs' live sockets."""

    def __init__(self, base_url: str, user=None, *, cookie: str | None = None):
        self.base_url = base_url
        self.session_key = cookie if cookie is not None else session_cookie(user)
        self._sockets = contextlib.ExitStack()

    @property
    def cookie_header(self) -> str:
        return f"{settings.SESSION_COOKIE_NAME}={self.session_key}"

    def open_socket(self, *, origin: str | None = None) -> ClientConnection:
        """A tab's live socket; `origin` defaults to the portal's own. Raises InvalidStatus when refused."""
        return self._sockets.enter_context(
            connect(
                self.base_url.replace("http", "ws", 1) + LIVE_PATH,
                origin=origin if origin is not None else self.base_url,
                additional_headers={"Cookie": self.cookie_header},
                open_timeout=HANDSHAKE_TIMEOUT,
                close_timeout=5,
            )
        )

    def sign_out(self) -> httpx.Response:
        """The user menu's Sign out: a POST with the CSRF token the page carries."""
        with httpx.Client(base_url=self.base_url, cookies={settings.SESSION_COOKIE_NAME: self.session_key}) as http:
            page = http.get("/", timeout=30)
            assert page.status_code == 200, page.text[:500]
            token = http.cookies[settings.CSRF_COOKIE_NAME]
            return http.post("/logout/", headers={"X-CSRFToken": token}, timeout=30)

    def close(self) -> None:
        self._sockets.close()


def refused(base_url: str, *, origin: str | None, cookie: str) -> int | None:
    """The HTTP status daphne refused the handshake with, or None when accepted; `origin=None` sends none."""
    headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"}
    try:
        with connect(
            base_url.replace("http", "ws", 1) + LIVE_PATH,
            origin=origin,
            additional_headers=headers,
            open_timeout=HANDSHAKE_TIMEOUT,
        ):
            return None
    except InvalidStatus as refusal:
        return refusal.response.status_code


def next_message(socket: ClientConnection, timeout: float = PUSH_TIMEOUT) -> str:
    try:
        return socket.recv(timeout=timeout)
    except TimeoutError:
        raise AssertionError(f"nothing arrived within {timeout} s") from None


def close_code(socket: ClientConnection, timeout: float = PUSH_TIMEOUT) -> int:
    """Wait for the server to close `socket`; fails if a message arrives first."""
    try:
        message = socket.recv(timeout=timeout)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the connection dropped without a close frame"
        return closed.rcvd.code
    except TimeoutError:
        raise AssertionError(f"the socket was still open after {timeout} s") from None
    raise AssertionError(f"the socket received {message!r} instead of being closed")

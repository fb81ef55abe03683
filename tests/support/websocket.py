"""In-process clients of /ws/live/ on portal.asgi.application, signed in the way a browser is.

The sockets are `channels.testing.WebsocketCommunicator`s, so they run in this process, but
they hear the real Redis channel layer: a push from a Celery worker process reaches them.

A communicator belongs to the event loop it was first used on, so a whole scenario runs as
one coroutine (`run`), and database work inside it goes through `in_thread`.
"""

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

LIVE_PATH = "/ws/live/"
ORIGIN = "http://127.0.0.1"
HOST = "127.0.0.1"

# Long enough for a Celery worker to pick a task up on a busy machine; only reached on failure.
PUSH_TIMEOUT = 30


def session_cookie(user) -> str:
    """The session cookie value of a fresh login of `user` (stored in the database)."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def headers_for(user=None, *, origin: str = ORIGIN, cookie: str | None = None) -> list[tuple[bytes, bytes]]:
    """Handshake headers of a same-origin browser tab, signed in as `user` (or anonymous)."""
    headers = [(b"host", HOST.encode()), (b"origin", origin.encode())]
    if user is not None:
        cookie = session_cookie(user)
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return headers


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Run an async scenario from a sync test; thread-sensitive DB calls come back to this thread."""
    return async_to_sync(scenario)()


def in_thread(function: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """`await in_thread(f)(...)`: call blocking code (the ORM, Celery) from inside a scenario."""
    return sync_to_async(function, thread_sensitive=True)


class LiveSocket:
    """One browser tab's live socket."""

    def __init__(self, headers: list[tuple[bytes, bytes]], name: str = "socket", client: tuple | None = None):
        from portal.asgi import application

        self.name = name
        self.communicator = WebsocketCommunicator(application, LIVE_PATH, headers=headers)
        if client is not None:  # the peer's (address, port), as daphne puts it in the scope
            self.communicator.scope["client"] = client

    async def connect(self) -> tuple[bool, Any]:
        """(True, subprotocol) when accepted, (False, close code) when refused."""
        return await self.communicator.connect(timeout=10)

    async def next(self, timeout: float = PUSH_TIMEOUT) -> dict:
        """The next JSON message the server sends on this socket."""
        try:
            return await self.communicator.receive_json_from(timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"{self.name}: nothing arrived within {timeout} s") from None

    async def nothing_pending(self, timeout: float = 0.5) -> bool:
        return await self.communicator.receive_nothing(timeout=timeout)

    async def ping(self) -> None:
        """Round trip through the consumer: proves the socket is open and served."""
        await self.communicator.send_json_to({"type": "ping"})
        assert await self.next(timeout=10) == {"type": "pong"}, f"{self.name}: no pong"

    async def close(self) -> None:
        # A refused socket's consumer still waits for the disconnect a real server would send.
        await self.communicator.disconnect(timeout=10)


class Sockets:
    """`async with Sockets() as sockets:` opens live sockets and closes every one of them on the way out."""

    def __init__(self) -> None:
        self.opened: list[LiveSocket] = []

    async def __aenter__(self) -> "Sockets":
        return self

    async def __aexit__(self, *exc_info) -> None:
        for socket in reversed(self.opened):
            with contextlib.suppress(Exception):
                await socket.close()

    async def try_open(
        self, headers: list[tuple[bytes, bytes]], name: str, client: tuple | None = None
    ) -> tuple[LiveSocket, bool, Any]:
        socket = LiveSocket(headers, name, client)
        self.opened.append(socket)
        accepted, detail = await socket.connect()
        return socket, accepted, detail

    async def open(self, headers: list[tuple[bytes, bytes]], name: str) -> LiveSocket:
        socket, accepted, detail = await self.try_open(headers, name)
        assert accepted, f"{name}: the live socket was refused (close code {detail})"
        return socket

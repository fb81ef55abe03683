import time
from importlib import import_module

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from automation.live import account_group, user_group
from automation.models import Membership


@database_sync_to_async
def _account_ids(user) -> list[str]:
    return [str(pk) for pk in Membership.objects.filter(user=user).values_list("account_id", flat=True)]


@database_sync_to_async
def _is_member(user, account_id: str) -> bool:
    return Membership.objects.filter(user=user, account_id=account_id).exists()


async def _session_user_id(session_key: str | None):
    """Whose the session is now, read afresh from the store (None once it ended or expired)."""
    if not session_key:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    # channels' get_user applies Django's checks: expiry, and the password hash the session was made with.
    user = await get_user({"session": store})
    return user.pk if user.is_authenticated else None


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """One socket per browser tab: it hears its user's and its accounts' pushes, nothing else."""

    groups: list[str]
    session_key: str | None = None
    ended = False

    async def connect(self):
        self.groups = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        session = self.scope.get("session")
        self.session_key = session.session_key if session is not None else None
        self.session_checked_at = time.monotonic()
        self.groups = [user_group(user.pk)] + [account_group(pk) for pk in await _account_ids(user)]
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self._leave_groups()

    async def _leave_groups(self) -> None:
        groups, self.groups = self.groups, []
        for group in groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _end(self) -> None:
        """Close as signed out; nothing queued behind this is sent (daphne closes the TCP connection later)."""
        if not self.ended:
            self.ended = True
            await self._leave_groups()
            await self.close(code=4401)

    async def _session_alive(self) -> bool:
        """False once the session ended by other means than this browser's sign-out (which closes at once):
        flushed, expired, deleted from the store, or made stale by a password change. Checked on a push, at
        most every LIVE_SESSION_CHECK_SECONDS, so an idle socket costs no queries."""
        if self.ended:
            return False
        now = time.monotonic()
        if now - self.session_checked_at < settings.LIVE_SESSION_CHECK_SECONDS:
            return True
        self.session_checked_at = now
        if await _session_user_id(self.session_key) != self.scope["user"].pk:
            await self._end()
            return False
        return True

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping" and not self.ended:
            await self.send_json({"type": "pong"})

    async def push_message(self, event):
        if not await self._session_alive():
            return
        group = event.get("group")
        if group is not None and group not in self.groups:
            return  # sent to an account this socket left a moment ago
        await self.send_json(event["payload"])

    async def session_ended(self, event):
        # The user signed out somewhere; only the sockets of that browser session close.
        if self.session_key is not None and self.session_key == event.get("session_key"):
            await self._end()

    async def membership_changed(self, event):
        if not await self._session_alive():
            return
        group = account_group(event["account_id"])
        user = self.scope["user"]
        # Re-check against the database: the message says what happened, the row says what is true.
        joined = event["joined"] and await _is_member(user, event["account_id"])
        if joined and group not in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups.append(group)
        elif not joined and group in self.groups:
            self.groups.remove(group)
            await self.channel_layer.group_discard(group, self.channel_name)
        await self.send_json({"type": "membership", "account_id": event["account_id"], "joined": joined})

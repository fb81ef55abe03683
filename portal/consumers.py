from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from automation.models import Membership
from portal.notify import account_group, user_group


@database_sync_to_async
def _account_ids(user) -> list[str]:
    return [str(pk) for pk in Membership.objects.filter(user=user).values_list("account_id", flat=True)]


@database_sync_to_async
def _is_member(user, account_id: str) -> bool:
    return Membership.objects.filter(user=user, account_id=account_id).exists()


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """One socket per browser tab: it hears its user's and its accounts' pushes, nothing else."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.groups = [user_group(user.pk)] + [account_group(pk) for pk in await _account_ids(user)]
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def push_message(self, event):
        group = event.get("group")
        if group is not None and group not in self.groups:
            return  # sent to an account this socket left a moment ago
        await self.send_json(event["payload"])

    async def session_ended(self, event):
        # The user signed out somewhere; only the sockets of that browser session close.
        session = self.scope.get("session")
        if session is not None and session.session_key == event.get("session_key"):
            await self.close(code=4401)

    async def membership_changed(self, event):
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

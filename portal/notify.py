"""The one place that pushes to browsers: every group_send goes through here.

Pushes happen after commit and are best effort: the row is already stored, so a page that
missed the push shows it on its next load. A Redis outage must not fail the change itself.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def account_group(account_id) -> str:
    return f"account-{account_id}"


def user_group(user_id) -> str:
    return f"user-{user_id}"


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # the change is committed; live delivery is a courtesy
        logger.warning("Could not push to %s", group, exc_info=True)


def push_to_account(account_id, payload: dict[str, Any]) -> None:
    group = account_group(account_id)
    # The group travels with the message: a socket that has just left the account drops it.
    _send(group, {"type": "push.message", "group": group, "payload": payload})


def push_to_user(user_id, payload: dict[str, Any]) -> None:
    _send(user_group(user_id), {"type": "push.message", "payload": payload})


def membership_changed(user_id, account_id, *, joined: bool) -> None:
    _send(user_group(user_id), {"type": "membership.changed", "account_id": str(account_id), "joined": joined})


def wake_waiters(group: str) -> None:
    """Wake agents waiting in a long-poll: new work for a group, or a stop for a worker."""
    _send(group, {"type": "wake"})


def session_ended(user_id, session_key: str | None) -> None:
    _send(user_group(user_id), {"type": "session.ended", "session_key": session_key})


def notification_payload(notification, *, event: str) -> dict[str, Any]:
    return {
        "type": "notification",
        "event": event,
        "notification": {
            "id": str(notification.id),
            "account_id": str(notification.account_id) if notification.account_id else None,
            "title": notification.title,
            "message": notification.message,
            "level": notification.level,
            "state": notification.state,
        },
    }

from django.db import transaction
from django.utils import timezone

from automation import live
from automation.models import AutomationAccount, Notification, NotificationReceipt
from automation.queries.notifications import visible_to
from automation.services.errors import InvalidInput

_STATE_LEVEL = {
    Notification.State.SUCCEEDED: Notification.Level.SUCCESS,
    Notification.State.FAILED: Notification.Level.ERROR,
}


def _push(notification: Notification, event: str) -> None:
    payload = live.notification_payload(notification, event=event)
    if notification.recipient_id is not None:
        live.after_commit(live.push_to_user, notification.recipient_id, payload)
    else:
        live.after_commit(live.push_to_account, notification.account_id, payload)


def create_notification(
    *,
    title: str,
    message: str = "",
    account: AutomationAccount | None = None,
    recipient=None,
    level: str = Notification.Level.INFO,
    state: str = Notification.State.NONE,
) -> Notification:
    if account is None and recipient is None:
        raise InvalidInput("A notification needs an account or a recipient.")
    title = title.strip()
    if not title:
        raise InvalidInput("A notification needs a title.", field="title")
    if len(title) > 200:
        raise InvalidInput("A notification title is at most 200 characters.", field="title")
    if level not in Notification.Level.values:
        raise InvalidInput("Unknown notification level.", field="level")
    if state not in Notification.State.values:
        raise InvalidInput("Unknown notification state.", field="state")
    with transaction.atomic():
        notification = Notification.objects.create(
            account=account, recipient=recipient, title=title, message=message, level=level, state=state
        )
        _push(notification, "created")
    return notification


def update_notification(
    *, notification: Notification, state: str, title: str | None = None, message: str | None = None
) -> Notification:
    """Move a notification on (in progress -> succeeded/failed); readers see it as unread again."""
    if state not in Notification.State.values:
        raise InvalidInput("Unknown notification state.", field="state")
    changes = {"state": state, "updated_at": timezone.now()}
    if state in _STATE_LEVEL:
        changes["level"] = _STATE_LEVEL[state]
    if title is not None:
        changes["title"] = title[:200]
    if message is not None:
        changes["message"] = message
    with transaction.atomic():
        Notification.objects.filter(pk=notification.pk).update(**changes)
        NotificationReceipt.objects.filter(notification=notification, dismissed=False).delete()
        for field, value in changes.items():
            setattr(notification, field, value)
        _push(notification, "updated")
    return notification


def mark_read(*, user, notification_ids: list | None = None) -> int:
    """Mark the user's notifications read: the ones named, or all of them. Returns how many."""
    unread = visible_to(user).exclude(receipts__user=user)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    ids = list(unread.values_list("pk", flat=True))
    NotificationReceipt.objects.bulk_create(
        [NotificationReceipt(notification_id=pk, user=user) for pk in ids], ignore_conflicts=True
    )
    return len(ids)


def dismiss_all(*, user) -> int:
    """Clear the panel: every notification the user can see is read and hidden."""
    with transaction.atomic():
        ids = list(visible_to(user).values_list("pk", flat=True))
        NotificationReceipt.objects.filter(user=user, notification_id__in=ids).update(dismissed=True)
        NotificationReceipt.objects.bulk_create(
            [NotificationReceipt(notification_id=pk, user=user, dismissed=True) for pk in ids],
            ignore_conflicts=True,
        )
    return len(ids)


def tell_user_about_membership(*, account: AutomationAccount, user, joined: bool) -> None:
    """Let the user's open tabs join or leave the account's live updates."""
    live.after_commit(live.membership_changed, user.pk, account.pk, joined=joined)


__all__ = ["create_notification", "dismiss_all", "mark_read", "update_notification"]

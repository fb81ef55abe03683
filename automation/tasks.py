"""Celery tasks: they take ids, load rows and call a service."""

from celery import shared_task

from automation.models import AutomationAccount
from automation.services.notifications import create_notification


@shared_task(name="automation.announce_to_account")
def announce_to_account(account_id: str, title: str, message: str = "", level: str = "info") -> str | None:
    """Tell every member of an account something (support staff use it from the admin)."""
    account = AutomationAccount.objects.filter(pk=account_id).first()
    if account is None:
        return None
    notification = create_notification(account=account, title=title, message=message, level=level)
    return str(notification.pk)

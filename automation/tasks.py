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


@shared_task(name="automation.delete_worker_group")
def delete_worker_group(group_id: str, notification_id: str, actor_name: str, actor_ip: str | None) -> bool:
    from django.contrib.auth import get_user_model

    from automation.services.actor import Actor
    from automation.services.workers import delete_group

    user = get_user_model().objects.filter(username=actor_name).first()
    actor = Actor(user=user, ip=actor_ip) if user else Actor.for_system()
    return delete_group(group_id=group_id, notification_id=notification_id, actor=actor)

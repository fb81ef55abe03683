"""Celery tasks: they take ids, load rows and call a service.

The only module of the domain that imports other domain modules lazily: the services that queue a task
import this module at their top, so each task imports its service inside its body, without a cycle.
"""

from celery import shared_task


@shared_task(name="automation.announce_to_account")
def announce_to_account(account_id: str, title: str, message: str = "", level: str = "info") -> str | None:
    """Tell every member of an account something (support staff use it from the admin)."""
    from automation.models import AutomationAccount
    from automation.services.notifications import create_notification

    account = AutomationAccount.objects.filter(pk=account_id).first()
    if account is None:
        return None
    notification = create_notification(account=account, title=title, message=message, level=level)
    return str(notification.pk)


# The name is the one queued messages carry: kept from before the task was named after groups.
@shared_task(name="automation.delete_worker_group")
def delete_group(group_id: str, notification_id: str, actor_user_id: int | None, actor_ip: str | None) -> bool:
    from django.contrib.auth import get_user_model

    from automation.services import groups
    from automation.services.actor import Actor

    user = get_user_model().objects.filter(pk=actor_user_id).first() if actor_user_id else None
    actor = Actor(user=user, ip=actor_ip) if user else Actor.for_system()
    return groups.delete_group(group_id=group_id, notification_id=notification_id, actor=actor)


@shared_task(name="automation.sweep_worker_presence")
def sweep_worker_presence() -> dict:
    """On the beat: tell accounts about workers that went offline or came back, push last-seen times,
    and take jobs back from workers whose lease ran out."""
    from django.utils import timezone

    from automation.services.leases import reclaim_lost_jobs
    from automation.services.presence import sweep_since_last

    now = timezone.now()
    result = sweep_since_last(now=now)
    lost = reclaim_lost_jobs(now=now)
    return {
        "offline": result.went_offline,
        "online": result.came_back,
        "seen": result.seen,
        "requeued": lost.requeued,
        "lost": lost.failed,
    }


@shared_task(name="automation.purge_expired")
def purge_expired() -> dict:
    """On the beat: delete ended jobs, finished notifications and audit entries past their retention."""
    from automation.services.retention import purge_expired as purge

    return purge().as_dict()


@shared_task(name="automation.send_certificate_expiry_notices")
def send_certificate_expiry_notices() -> int:
    """On the beat: tell Owners about certificates expiring in 30 or 7 days, or expired (each notice once)."""
    from django.utils import timezone

    from automation.services.certificates import send_certificate_expiry_notices as send

    return send(now=timezone.now())


@shared_task(name="automation.fire_schedules")
def fire_schedules() -> dict:
    """On the beat: start the jobs of the schedules that are due (exactly once, however many workers tick)."""
    from automation.services.schedule_firing import fire_due_schedules

    return fire_due_schedules().as_dict()

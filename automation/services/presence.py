"""Presence is derived from last_seen_at; this sweep only notices the transitions, once each."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from automation.models import HybridWorker, Notification
from automation.services.notifications import create_notification
from automation.services.workers import online_q


@dataclass
class SweepResult:
    went_offline: list[str] = field(default_factory=list)
    came_back: list[str] = field(default_factory=list)
    seen: int = 0


def _announce(worker: HybridWorker, *, online: bool) -> bool:
    """Flip what was announced with a conditional update: of two sweeps at once, only one tells people."""
    changed = HybridWorker.objects.filter(pk=worker.pk, announced_online=not online).update(announced_online=online)
    if changed != 1:
        return False
    if online:
        title = f"Worker {worker.name} in group {worker.group.name} is back online"
        level = Notification.Level.SUCCESS
    else:
        title = f"Worker {worker.name} in group {worker.group.name} went offline"
        level = Notification.Level.WARNING
    last_seen = (
        timezone.localtime(worker.last_seen_at).strftime("%Y-%m-%d %H:%M:%S %Z") if worker.last_seen_at else "never"
    )
    message = f"Last heartbeat: {last_seen}."
    if not online and worker.left_at is not None and worker.last_seen_at and worker.left_at >= worker.last_seen_at:
        title = f"Worker {worker.name} in group {worker.group.name} stopped its service"
        level = Notification.Level.INFO
    create_notification(account=worker.account, title=title, message=message, level=level)
    _push_status(worker, online=online)
    return True


def _push_status(worker: HybridWorker, *, online: bool) -> None:
    from portal import notify

    payload = {
        "type": "worker-status",
        "worker_id": str(worker.pk),
        "group_id": str(worker.group_id),
        "status": "Online" if online else "Offline",
        "last_seen": worker.last_seen_at.isoformat() if worker.last_seen_at else None,
    }
    account_id = worker.account_id
    transaction.on_commit(lambda: notify.push_to_account(account_id, payload))


def sweep_presence(*, seen_since: datetime | None = None, now: datetime | None = None) -> SweepResult:
    """Notify each online/offline transition once, and push the last-seen times that moved since `seen_since`."""
    now = now or timezone.now()
    online = online_q(now)
    result = SweepResult()
    workers = HybridWorker.objects.select_related("group", "account")
    for worker in workers.filter(announced_online=True).exclude(online):
        with transaction.atomic():
            if _announce(worker, online=False):
                result.went_offline.append(worker.name)
    for worker in workers.filter(online, announced_online=False):
        with transaction.atomic():
            if _announce(worker, online=True):
                result.came_back.append(worker.name)
    if seen_since is not None:
        result.seen = _push_last_seen(seen_since)
    return result


def _push_last_seen(since: datetime) -> int:
    """One message per account with the workers that heartbeated since the last sweep."""
    from portal import notify

    rows = HybridWorker.objects.filter(last_seen_at__gt=since).values_list(
        "account_id", "group_id", "id", "last_seen_at"
    )
    by_account: dict = {}
    for account_id, group_id, worker_id, last_seen in rows:
        seen = {"id": str(worker_id), "group_id": str(group_id), "last_seen": last_seen.isoformat()}
        by_account.setdefault(account_id, []).append(seen)
    for account_id, seen in by_account.items():
        notify.push_to_account(account_id, {"type": "workers-seen", "workers": seen})
    return sum(len(v) for v in by_account.values())

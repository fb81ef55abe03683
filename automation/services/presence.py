"""Presence, in one place: a worker is online while its heartbeats are recent (derived from last_seen_at
when it is read, by queries and serializers alike), and a sweep on the beat notices the transitions, once
each, to tell people. The lease of a claim runs out on the same limit (services.leases)."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from automation import live
from automation.models import HybridWorker, Notification
from automation.services.notifications import create_notification

# When the last sweep ran: the next one pushes the last-seen times that moved since. Shared by every
# Celery worker through the cache (Redis), and lost with it at worst, which costs one sweep's pushes.
LAST_SWEEP_KEY = "presence:last-sweep"


def offline_after() -> timedelta:
    return timedelta(seconds=settings.HEARTBEAT_INTERVAL_SECONDS * settings.OFFLINE_AFTER_MISSED_HEARTBEATS)


def online_q(now=None, prefix: str = "") -> Q:
    """Online: heartbeated within the limit, and not since said it was leaving (the heartbeat after a
    restart is later than left_at, which makes it online again)."""
    now = now or timezone.now()
    return Q(**{f"{prefix}last_seen_at__gt": now - offline_after()}) & (
        Q(**{f"{prefix}left_at__isnull": True}) | Q(**{f"{prefix}left_at__lt": F(f"{prefix}last_seen_at")})
    )


def presence_label(online: bool) -> str:
    """What pages, pushes and the API call a worker's presence."""
    return "Online" if online else "Offline"


def is_online(worker: HybridWorker, now=None) -> bool:
    now = now or timezone.now()
    # The same boundary as online_q (last_seen_at > now - offline_after): offline at the limit.
    if worker.left_at is not None and worker.last_seen_at is not None and worker.left_at >= worker.last_seen_at:
        return False
    return worker.last_seen_at is not None and now - worker.last_seen_at < offline_after()


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
    payload = {
        "type": "worker-status",
        "worker_id": str(worker.pk),
        "group_id": str(worker.group_id),
        "status": presence_label(online),
        "last_seen": worker.last_seen_at.isoformat() if worker.last_seen_at else None,
    }
    live.after_commit(live.push_to_account, worker.account_id, payload)


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
    rows = HybridWorker.objects.filter(last_seen_at__gt=since).values_list(
        "account_id", "group_id", "id", "last_seen_at"
    )
    by_account: dict = {}
    for account_id, group_id, worker_id, last_seen in rows:
        seen = {"id": str(worker_id), "group_id": str(group_id), "last_seen": last_seen.isoformat()}
        by_account.setdefault(account_id, []).append(seen)
    for account_id, seen in by_account.items():
        live.push_to_account(account_id, {"type": "workers-seen", "workers": seen})
    return sum(len(v) for v in by_account.values())


def sweep_since_last(*, now: datetime | None = None) -> SweepResult:
    """The beat's sweep: the transitions, and the last-seen times that moved since the previous sweep."""
    now = now or timezone.now()
    previous = cache.get(LAST_SWEEP_KEY)
    result = sweep_presence(seen_since=parse_datetime(previous) if previous else None, now=now)
    cache.set(LAST_SWEEP_KEY, now.isoformat(), timeout=3600)
    return result

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from automation.models import AutomationAccount, HybridWorker, HybridWorkerGroup
from automation.services.workers import offline_after


def groups_of(account: AutomationAccount) -> QuerySet[HybridWorkerGroup]:
    """Groups with worker_count, online_count and last_seen, in one query."""
    online_since = timezone.now() - offline_after()
    return HybridWorkerGroup.objects.filter(account=account).annotate(
        worker_count=Count("workers"),
        online_count=Count("workers", filter=Q(workers__last_seen_at__gte=online_since)),
        last_seen=Max("workers__last_seen_at"),
    )


def workers_of(account: AutomationAccount) -> QuerySet[HybridWorker]:
    return HybridWorker.objects.filter(account=account).select_related("group").order_by("group__name", "name")


def worker_totals(account: AutomationAccount) -> dict[str, int]:
    """Counts for the Overview: groups, workers, and workers online now (two queries)."""
    online_since = timezone.now() - offline_after()
    totals = HybridWorker.objects.filter(account=account).aggregate(
        workers=Count("pk"), online=Count("pk", filter=Q(last_seen_at__gte=online_since))
    )
    totals["groups"] = HybridWorkerGroup.objects.filter(account=account).count()
    return totals

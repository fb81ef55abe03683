"""Hybrid workers as pages and lists read them, with their presence derived in the query."""

from django.db.models import BooleanField, Case, Count, QuerySet, Value, When

from automation.models import AutomationAccount, HybridWorker, HybridWorkerGroup
from automation.services.presence import online_q


def workers_of(account: AutomationAccount) -> QuerySet[HybridWorker]:
    return HybridWorker.objects.filter(account=account).select_related("group").order_by("group__name", "name")


def worker_totals(account: AutomationAccount) -> dict[str, int]:
    """Counts for the Overview: groups, workers, and workers online now (two queries)."""
    totals = HybridWorker.objects.filter(account=account).aggregate(
        workers=Count("pk"), online=Count("pk", filter=online_q())
    )
    totals["groups"] = HybridWorkerGroup.objects.filter(account=account).count()
    return totals


def with_presence(workers: QuerySet[HybridWorker]) -> QuerySet[HybridWorker]:
    """Each worker with `is_online`, derived in the query from last_seen_at."""
    return workers.annotate(
        is_online=Case(When(online_q(), then=Value(True)), default=Value(False), output_field=BooleanField())
    )

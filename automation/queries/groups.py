"""Hybrid worker groups as pages and lists read them: counts and last seen in one query."""

from django.db.models import Count, F, Max, QuerySet
from django.db.models.functions import Coalesce, Greatest

from automation.models import AutomationAccount, HybridWorkerGroup
from automation.services.presence import online_q
from automation.validators import LINE, text_problem


def groups_of(account: AutomationAccount) -> QuerySet[HybridWorkerGroup]:
    """Groups with worker_count, online_count, last_seen and their Run as credential, in one query. A group's
    last seen is the latest of its workers', counting those removed from it since."""
    current = Max("workers__last_seen_at")
    removed = F("removed_workers_last_seen_at")
    return (
        HybridWorkerGroup.objects.filter(account=account)
        .select_related("run_as_credential")
        .annotate(
            worker_count=Count("workers"),
            online_count=Count("workers", filter=online_q(prefix="workers__")),
            # Greatest is NULL with a NULL argument on SQLite (not on PostgreSQL): each side falls back on the other.
            last_seen=Greatest(Coalesce(current, removed), Coalesce(removed, current)),
        )
    )


GROUP_SORTS = {
    "name": "name",
    "workers": "worker_count",
    "online": "online_count",
    "last_seen": "last_seen",
    "created": "created_at",
}


def sorted_groups(account: AutomationAccount, *, query: str = "", sort: str = "name") -> QuerySet[HybridWorkerGroup]:
    """The groups blade: filtered by name, sorted by a column (`-` for descending), ties by name."""
    descending = sort.startswith("-")
    column = GROUP_SORTS.get(sort.lstrip("-"), "name")
    groups = groups_of(account)
    if query:
        # No name holds a control character; PostgreSQL would refuse a NUL in the query instead of finding none.
        groups = groups.none() if text_problem(query, LINE) else groups.filter(name__icontains=query)
    order = F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_first=True)
    return groups.order_by(order, "name")


def group_names_to_run_on(account: AutomationAccount) -> list[str]:
    """The groups a job may be started on, by name (one being deleted takes no new work): what Start, a
    schedule's link and a webhook offer for Run on."""
    return list(
        HybridWorkerGroup.objects.filter(account=account, deleting_since__isnull=True)
        .order_by("name")
        .values_list("name", flat=True)
    )

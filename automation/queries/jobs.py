import math
from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from automation.models import AutomationAccount, Job, JobStatus, JobStream


class BadFilter(ValueError):
    pass


def jobs_of(account: AutomationAccount, filters: dict | None = None, *, tests: bool = False) -> QuerySet[Job]:
    """The jobs list, newest first, filtered by status, runbook, group (run_on) and creation time.
    Test pane runs are left out unless `tests`, as on Azure."""
    jobs = Job.objects.filter(account=account).order_by("-created_at")
    if not tests:
        jobs = jobs.filter(is_test=False)
    filters = filters or {}
    if status := filters.get("status"):
        if status not in JobStatus.values:
            raise BadFilter(f"status is one of {', '.join(JobStatus.values)}.")
        jobs = jobs.filter(status=status)
    if runbook := filters.get("runbook"):
        jobs = jobs.filter(runbook_name=runbook)
    if group := filters.get("run_on") or filters.get("group"):
        jobs = jobs.filter(group_name=group)
    for key, lookup in (("created_after", "created_at__gte"), ("created_before", "created_at__lt")):
        if value := filters.get(key):
            try:
                moment = parse_datetime(value)
            except ValueError:  # well formed but not a date, e.g. month 13
                moment = None
            if moment is None:
                raise BadFilter(f"{key} is an ISO 8601 date and time, e.g. 2026-11-25T10:00:00Z.")
            jobs = jobs.filter(**{lookup: moment})
    return jobs


def streams_of(job: Job, *, after: int | None = None, stream: str | None = None) -> QuerySet[JobStream]:
    records = JobStream.objects.filter(job=job).order_by("seq")
    if after is not None:
        records = records.filter(seq__gt=after)
    if stream:
        records = records.filter(stream=stream)
    return records


def recent_job_counts(group, *, hours: int = 24) -> dict[str, int]:
    """Jobs run on a group in the last `hours`: total, failed and running, in one query."""
    since = timezone.now() - timedelta(hours=hours)
    return Job.objects.filter(group=group, created_at__gte=since).aggregate(
        total=Count("pk"),
        failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
        running=Count("pk", filter=Q(status__in=[JobStatus.ACTIVATING, JobStatus.RUNNING, JobStatus.STOPPING])),
    )


def _percentile(rows: QuerySet, count: int, fraction: float):
    """The nearest-rank percentile of an ordered queryset of one value, in one query on any database."""
    if count == 0:
        return None
    rank = max(1, math.ceil(fraction * count))
    return rows[rank - 1 : rank].first()


def job_statistics(account: AutomationAccount, *, hours: int = 1) -> dict:
    """The Overview's job figures over the last `hours`: jobs by status (of those created in the window)
    and pickup latency p50/p95 in milliseconds (of those claimed in it). Four queries however many jobs."""
    since = timezone.now() - timedelta(hours=hours)
    counts = dict(
        Job.objects.filter(account=account, is_test=False, created_at__gte=since)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    by_status = [(status, counts.get(status, 0)) for status in JobStatus.values]
    claimed = Job.objects.filter(account=account, claimed_at__gte=since, pickup_ms__isnull=False)
    claimed_count = claimed.count()
    pickups = claimed.order_by("pickup_ms").values_list("pickup_ms", flat=True)
    return {
        "hours": hours,
        "by_status": by_status,
        "total": sum(counts.values()),
        "claimed": claimed_count,
        "pickup_p50": _percentile(pickups, claimed_count, 0.50),
        "pickup_p95": _percentile(pickups, claimed_count, 0.95),
    }

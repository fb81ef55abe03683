from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from automation.models import AutomationAccount, Job, JobStatus, JobStream


class BadFilter(ValueError):
    pass


def jobs_of(account: AutomationAccount, filters: dict | None = None) -> QuerySet[Job]:
    """The jobs list, newest first, filtered by status, runbook, group (run_on) and creation time."""
    jobs = Job.objects.filter(account=account).order_by("-created_at")
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

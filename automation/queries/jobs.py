import math
import re
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from automation.models import ACTIVE_STATUSES, AutomationAccount, Job, JobStatus, JobStream, StartedBy
from automation.validators import LINE, MAX_INT, text_problem


class BadFilter(ValueError):
    """A filter that cannot be answered; `key` names it."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def _moment(key: str, value: str) -> datetime:
    """An ISO 8601 time with its offset, as UTC. Without an offset it would be read in the server's time
    zone, which the person asking may not know; and an offset that carries it past year 1 or 9999
    cannot be compared at all (Python and the databases stop there)."""
    if problem := text_problem(value, LINE):
        raise BadFilter(key, f"{key} {problem}.")
    try:
        moment = parse_datetime(value)
    except ValueError:  # well formed but not a date, e.g. month 13
        moment = None
    if moment is None:
        raise BadFilter(key, f"{key} is an ISO 8601 date and time, e.g. 2026-11-25T10:00:00Z.")
    if moment.utcoffset() is None:
        raise BadFilter(key, f"{key} needs a UTC offset, e.g. 2026-11-25T10:00:00Z or 2026-11-25T11:00:00+01:00.")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise BadFilter(key, f"{key} is out of range: in UTC it is before year 1 or after year 9999.") from None


def jobs_of(account: AutomationAccount, filters: dict | None = None, *, tests: bool = False) -> QuerySet[Job]:
    """The jobs list, newest first, filtered by status, how it was started, runbook, group (run_on) and
    creation time.
    Test pane runs are left out unless `tests`, as on Azure."""
    jobs = Job.objects.filter(account=account).order_by("-created_at")
    if not tests:
        jobs = jobs.filter(is_test=False)
    filters = filters or {}
    if status := filters.get("status"):
        if status not in JobStatus.values:
            raise BadFilter("status", f"status is one of {', '.join(JobStatus.values)}.")
        jobs = jobs.filter(status=status)
    if kind := filters.get("started_by"):
        if kind not in StartedBy.values:
            raise BadFilter("started_by", f"started_by is one of {', '.join(StartedBy.values)}.")
        jobs = jobs.filter(started_by_kind=kind)
    for key, field in (("runbook", "runbook_name"), ("run_on", "group_name"), ("group", "group_name")):
        if value := filters.get(key):
            # A name with a NUL is no name, and PostgreSQL refuses it in a query rather than finding nothing.
            if problem := text_problem(value, LINE):
                raise BadFilter(key, f"{key} {problem}.")
            jobs = jobs.filter(**{field: value})
    for key, lookup in (("created_after", "created_at__gte"), ("created_before", "created_at__lt")):
        if value := filters.get(key):
            jobs = jobs.filter(**{lookup: _moment(key, value)})
    return jobs


def with_children(jobs: QuerySet[Job]) -> QuerySet[Job]:
    """The jobs with the ids of the jobs each one started, in one more query for the whole page."""
    return jobs.prefetch_related(Prefetch("children", queryset=Job.objects.only("id", "parent_id", "created_at")))


def children_of(job: Job) -> QuerySet[Job]:
    """The jobs a job's runbook started, oldest first (the job blade lists them)."""
    return Job.objects.filter(parent=job).order_by("created_at").only("id", "runbook_name", "status", "created_at")


def stream_position(value: str | None) -> int | None:
    """The `after` of a streams request: a record's seq (-1: from the first), or None when not given."""
    if value is None:
        return None
    if not re.fullmatch(r"-1|[0-9]{1,19}", value) or int(value) > MAX_INT:
        raise BadFilter("after", f"after is a record's seq: a whole number from -1 to {MAX_INT}.")
    return int(value)


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
        running=Count("pk", filter=Q(status__in=ACTIVE_STATUSES)),
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

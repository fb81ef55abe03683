"""Retention: what has outlived its period is deleted, a bounded batch per short transaction.

A job may have a million stream records; one DELETE for them would hold its locks (and, on
SQLite, the database's only write lock) for as long as it takes. Every deletion here is instead
a loop of "pick at most N primary keys, delete those rows, commit", so agents reporting records
and people using the portal wait at most one batch. Two purges running at once stay correct: a
batch the other one deleted first deletes nothing here and counts nothing.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from automation.models import FINAL_STATUSES, AuditEvent, Job, JobStream, Notification, NotificationReceipt
from automation.services.errors import InvalidInput

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeCounts:
    jobs: int = 0
    streams: int = 0
    notifications: int = 0
    receipts: int = 0
    audit_events: int = 0
    signin_records: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def purge_expired(*, now: datetime | None = None, batch_size: int | None = None) -> PurgeCounts:
    """Delete ended jobs with their streams, finished notifications and audit entries past their retention."""
    now = now or timezone.now()
    size = settings.RETENTION_BATCH_SIZE if batch_size is None else batch_size
    if not 1 <= size <= settings.RETENTION_BATCH_SIZE_MAX:
        # The bound RETENTION_BATCH_SIZE is held to (portal/settings.py says why), for any caller.
        raise InvalidInput(f"must be from 1 to {settings.RETENTION_BATCH_SIZE_MAX}, got {size}", field="batch_size")
    jobs, streams = _purge_jobs(now - timedelta(days=settings.RETENTION_JOB_DAYS), size)
    notifications, receipts = _purge_notifications(now - timedelta(days=settings.RETENTION_NOTIFICATION_DAYS), size)
    audit_cutoff = now - timedelta(days=settings.RETENTION_AUDIT_DAYS)
    audit = _delete_in_batches(AuditEvent.objects.filter(created_at__lt=audit_cutoff), "created_at", size)
    counts = PurgeCounts(
        jobs=jobs,
        streams=streams,
        notifications=notifications,
        receipts=receipts,
        audit_events=audit.get(AuditEvent._meta.label, 0),
        signin_records=_purge_signin_records(now, audit_cutoff, size),
    )
    logger.info("Retention purge deleted %s", ", ".join(f"{n} {kind}" for kind, n in counts.as_dict().items()))
    return counts


@contextmanager
def _batch() -> Iterator[None]:
    """One batch's transaction.

    On SQLite it holds the database's only write lock, and a writer waiting for it only retries
    now and then: taking the lock again at once would starve agents and the portal for the whole
    purge (measured: an insert waited 4 s). Pausing as long as the batch took leaves them half the time.
    """
    started = time.monotonic()
    with transaction.atomic():
        yield
    if connection.vendor == "sqlite":
        time.sleep(time.monotonic() - started)


def _delete_in_batches(due: QuerySet, order: str, size: int) -> dict[str, int]:
    """Delete every row of `due`, at most `size` per transaction; returns the rows deleted per model label.

    Batches are taken in `order`, an indexed column that the filter bounds, so each SELECT reads
    about `size` index entries. In primary key order (random UUIDs here) the database would walk
    the whole table to find the due rows scattered through it.
    """
    deleted: dict[str, int] = {}
    while True:
        with _batch():
            pks = list(due.order_by(order).values_list("pk", flat=True)[:size])
            if pks:
                # Through `due` again: a row that stopped qualifying since the SELECT is left alone.
                _, per_model = due.filter(pk__in=pks).delete()
                for label, count in per_model.items():
                    deleted[label] = deleted.get(label, 0) + count
        if len(pks) < size:
            return deleted


def _purge_signin_records(now: datetime, log_cutoff: datetime, size: int) -> int:
    """django-axes's records: its logs of sign-ins and failures as long as the audit is kept, and counts of
    failures once their cool-off has passed (they lock nothing any more). Each username an anonymous client
    tries adds rows, so they must not be kept for ever."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    counted_until = now - timedelta(seconds=settings.LOGIN_COOLOFF_SECONDS)
    deleted = 0
    for due in (
        AccessLog.objects.filter(attempt_time__lt=log_cutoff),
        AccessFailureLog.objects.filter(attempt_time__lt=log_cutoff),
        AccessAttempt.objects.filter(attempt_time__lt=counted_until),
    ):
        deleted += sum(_delete_in_batches(due, "attempt_time", size).values())
    return deleted


def _purge_jobs(cutoff: datetime, size: int) -> tuple[int, int]:
    """Jobs that ended before `cutoff`, each batch's streams first; an open job is never touched."""
    due = Job.objects.filter(status__in=FINAL_STATUSES, ended_at__lt=cutoff)
    jobs = streams = 0
    while True:
        ids = list(due.order_by("ended_at").values_list("pk", flat=True)[:size])
        if not ids:
            return jobs, streams
        streams += _delete_streams(ids, size)
        # Deleting a job deletes any record of it that is still there too (an ended job gets no
        # more, its lease is gone), so the count includes them.
        with _batch():
            _, per_model = due.filter(pk__in=ids).delete()
        jobs += per_model.get(Job._meta.label, 0)
        streams += per_model.get(JobStream._meta.label, 0)
        if len(ids) < size:
            return jobs, streams


def _delete_streams(job_ids: list, size: int) -> int:
    """The stream records of these jobs, `size` rows per transaction, deleted by primary key.

    Rows are picked in the order of the (job, seq) unique index, which reads just the next
    `size` entries. Picking them in primary key order made PostgreSQL walk the primary key past
    every other job's records, and the final, empty batch walked to the end of the table.
    """
    deleted = 0
    remaining = list(job_ids)
    while True:
        with _batch():
            rows = list(
                JobStream.objects.filter(job_id__in=remaining)
                .order_by("job_id", "seq")
                .values_list("pk", "job_id")[:size]
            )
            if rows:
                deleted += JobStream.objects.filter(pk__in=[pk for pk, _ in rows]).delete()[0]
        if len(rows) < size:
            return deleted
        # Every job met before the batch's last one has no record left: stop asking for it, so the
        # index entries of its deleted rows are not walked again.
        current = rows[-1][1]
        finished = {job_id for _, job_id in rows} - {current}
        remaining = [job_id for job_id in remaining if job_id not in finished]


def _purge_notifications(cutoff: datetime, size: int) -> tuple[int, int]:
    """Finished notifications that nothing happened to since `cutoff`, with who read them."""
    # updated_at too: a long task's notification created before the cutoff may have finished yesterday.
    due = Notification.objects.filter(created_at__lt=cutoff, updated_at__lt=cutoff).exclude(
        state=Notification.State.IN_PROGRESS
    )
    per_model = _delete_in_batches(due, "created_at", size)
    return per_model.get(Notification._meta.label, 0), per_model.get(NotificationReceipt._meta.label, 0)

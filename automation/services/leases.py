"""Jobs whose worker is gone: the lease of a claim lasts as long as the worker heartbeats.

A worker silent past the lease (three heartbeat intervals, the same limit that makes it Offline),
removed altogether, or that said it is leaving (its service stopping), loses its jobs:

  * a job it had not started goes back to Queued for another member;
  * one that was running goes back to Queued when its runbook's retry policy has a retry left, and
    otherwise ends Failed with "worker lost" (Stopped, if it was being stopped).

Every move clears the lease, so whatever the old worker reports later changes nothing: a heartbeat
naming the job is 409 with the job in `lost` (stale_leases); records or an end report are 409 (the job ended) or
404 (it is queued or held by another worker, which is none of the old worker's business). Each move
is one conditional UPDATE on the job's status and lease, so a sweep racing another sweep, or a late
report, changes a job once.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from automation import live
from automation.models import ACTIVE_STATUSES, HybridWorker, Job, JobStatus, JobStream
from automation.services.errors import Conflict, InvalidInput, NotFound
from automation.services.presence import offline_after

# A claim younger than this may still be on its way to the agent.
MIN_CLAIM_AGE_SECONDS = 5


@dataclass
class LostJobs:
    requeued: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.requeued) + len(self.retried) + len(self.failed)


def reclaim_lost_jobs(*, now: datetime | None = None) -> LostJobs:
    now = now or timezone.now()
    lost = (
        Q(worker__isnull=True)
        | Q(worker__last_seen_at__isnull=True)
        | Q(worker__last_seen_at__lte=now - offline_after())
        | Q(worker__left_at__gte=F("worker__last_seen_at"))
    )
    return _take_back(
        Job.objects.filter(lost, status__in=ACTIVE_STATUSES), now=now, why="stopped heartbeating or was removed"
    )


def release_worker(*, worker: HybridWorker) -> LostJobs:
    """The agent says its service is stopping: offline at once, and what it still holds goes back now
    rather than when the lease runs out."""
    now = timezone.now()
    HybridWorker.objects.filter(pk=worker.pk).update(left_at=now)
    return _take_back(Job.objects.filter(worker=worker, status__in=ACTIVE_STATUSES), now=now, why="stopped its service")


def take_back_unlisted(*, worker: HybridWorker, held: list[str], now: datetime | None = None) -> LostJobs:
    """A heartbeat lists the jobs the agent holds. One claimed for it over a heartbeat ago that it does
    not list never reached it (the long-poll answer was lost) or was lost with a restart of the agent:
    it goes back now, not never (the worker is alive, so its lease would not run out)."""
    now = now or timezone.now()
    settled = now - timedelta(seconds=max(settings.HEARTBEAT_INTERVAL_SECONDS, MIN_CLAIM_AGE_SECONDS))
    unlisted = Job.objects.filter(worker=worker, status__in=ACTIVE_STATUSES, claimed_at__lt=settled).exclude(
        pk__in=held
    )
    if not unlisted.exists():
        return LostJobs()
    return _take_back(unlisted, now=now, why="no longer has it (its agent restarted or never received it)")


def held_job(*, worker: HybridWorker, job_id, lease) -> Job:
    """The job a report is about, locked, if this worker holds it under this lease (404 or 409 otherwise)."""
    # The row lock holds a take-back (_take_back) until this report is stored: a batch checked
    # under the old lease never lands after the retry marker, on the slots of the next attempt's records.
    job = Job.objects.select_for_update().filter(pk=job_id, worker=worker).first()
    if job is None:
        raise NotFound("This worker holds no such job.", code="no_such_job")
    if str(job.lease_id) != str(lease):
        raise Conflict(
            "This job's lease has moved on (the worker lost it): the report was not applied.", code="stale_lease"
        )
    return job


def stale_leases(*, worker: HybridWorker, held: Any) -> list[str]:
    """Of the jobs a worker says it holds ([{id, lease}]), those it no longer holds under that lease."""
    if held in (None, ""):
        return []
    if not isinstance(held, list) or len(held) > 10_000:
        raise InvalidInput("jobs is a list of {id, lease}.", field="jobs")
    claimed: dict[str, str] = {}
    for item in held:
        if not isinstance(item, dict):
            raise InvalidInput("jobs is a list of {id, lease}.", field="jobs")
        try:
            job_id, lease = str(uuid.UUID(str(item.get("id")))), str(uuid.UUID(str(item.get("lease"))))
        except ValueError:
            raise InvalidInput("Each of jobs has an id and a lease, both UUIDs.", field="jobs") from None
        claimed[job_id] = lease
    if not claimed:
        return []
    current = {
        str(pk): str(lease)
        for pk, lease in Job.objects.filter(pk__in=list(claimed), worker=worker).values_list("pk", "lease_id")
    }
    return sorted(job_id for job_id, lease in claimed.items() if current.get(job_id) != lease)


def _mark_retry(pk, reason: str, now: datetime) -> None:
    """A warning record says where one attempt ended; the next attempt's records follow it."""
    last = JobStream.objects.filter(job_id=pk).aggregate(n=Max("seq"))["n"]
    seq = 0 if last is None else last + 1
    job = Job.objects.get(pk=pk)
    JobStream.objects.create(
        job_id=pk,
        seq=seq,
        stream=JobStream.Stream.WARNING,
        text=f"{reason}: attempt {job.attempt - 1} ended here; the job is queued again as attempt {job.attempt}.",
        time=now,
    )
    Job.objects.filter(pk=pk).update(seq_base=seq + 1)


def _take_back(jobs, *, now: datetime, why: str) -> LostJobs:
    result = LostJobs()
    held = jobs.values_list("pk", "status", "lease_id", "worker_name", "retries_left")
    for pk, status, lease, worker_name, retries_left in list(held):
        with transaction.atomic():
            current = Job.objects.filter(pk=pk, status=status, lease_id=lease)
            reason = f"worker lost: {worker_name or 'its worker'} {why}"
            if status == JobStatus.ACTIVATING:
                moved = current.update(
                    status=JobStatus.QUEUED, worker=None, worker_name="", lease_id=None, claimed_at=None, pickup_ms=None
                )
                outcome = result.requeued
            elif status == JobStatus.RUNNING and retries_left > 0:
                # Back to the front of the queue (queued_at is kept), as the next attempt.
                moved = current.update(
                    status=JobStatus.QUEUED,
                    status_reason=f"{reason}; retrying",
                    worker=None,
                    worker_name="",
                    lease_id=None,
                    claimed_at=None,
                    started_at=None,
                    pickup_ms=None,
                    attempt=F("attempt") + 1,
                    retries_left=F("retries_left") - 1,
                )
                outcome = result.retried
            else:
                final = JobStatus.STOPPED if status == JobStatus.STOPPING else JobStatus.FAILED
                moved = current.update(
                    status=final, status_reason=reason, ended_at=now, lease_id=None, secret_parameters=""
                )
                outcome = result.failed
            if moved and outcome is result.retried:
                _mark_retry(pk, reason, now)
            if moved:
                job = Job.objects.get(pk=pk)
                outcome.append(str(pk))
                live.push_job_status(job)
                if job.status == JobStatus.QUEUED and job.group_id:
                    live.wake_group_agents(job.group_id)
    return result

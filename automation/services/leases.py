"""Jobs whose worker is gone: the lease of a claim lasts as long as the worker heartbeats.

A worker silent past the lease (three heartbeat intervals, the same limit that makes it Offline),
or removed altogether, loses its jobs: a job it had not started goes back to Queued for another
member; one that was running ends Failed with "worker lost" (Stopped, if it was being stopped).
Each move is one conditional UPDATE on the job's status and lease, so a sweep racing another
sweep, or a late report from the worker, changes a job once.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from automation.models import Job, JobStatus
from automation.services.jobs import push_job_status, wake_group
from automation.services.workers import offline_after


@dataclass
class LostJobs:
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def reclaim_lost_jobs(*, now: datetime | None = None) -> LostJobs:
    now = now or timezone.now()
    lost = (
        Q(worker__isnull=True)
        | Q(worker__last_seen_at__isnull=True)
        | Q(worker__last_seen_at__lte=now - offline_after())
    )
    result = LostJobs()
    held = Job.objects.filter(
        lost, status__in=[JobStatus.ACTIVATING, JobStatus.RUNNING, JobStatus.STOPPING]
    ).values_list("pk", "status", "lease_id", "worker_name")
    for pk, status, lease, worker_name in list(held):
        with transaction.atomic():
            current = Job.objects.filter(pk=pk, status=status, lease_id=lease)
            who = worker_name or "its worker"
            if status == JobStatus.ACTIVATING:
                moved = current.update(
                    status=JobStatus.QUEUED, worker=None, worker_name="", lease_id=None, claimed_at=None
                )
                outcome = result.requeued
            else:
                final = JobStatus.STOPPED if status == JobStatus.STOPPING else JobStatus.FAILED
                moved = current.update(
                    status=final,
                    status_reason=f"worker lost: {who} stopped heartbeating or was removed",
                    ended_at=now,
                )
                outcome = result.failed
            if moved:
                job = Job.objects.get(pk=pk)
                outcome.append(str(pk))
                push_job_status(job)
                if job.status == JobStatus.QUEUED and job.group_id:
                    wake_group(job.group_id)
    return result

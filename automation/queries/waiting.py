"""Why a Queued job waits: the first thing Azure's users ask, and Azure does not answer. And why a job failed
before it started because its worker would not run it as the user its group names (Run as).

A queued job is claimed as soon as a member of its group has a free slot and asks for work (the
long-poll is answered at once), so a job that stays queued is waiting for one of three things: a
worker in the group at all, a worker online, or a free slot. The explanation is derived when it is
read, from the group's workers as they are now, in two queries however many jobs are explained.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from automation.models import ACTIVE_STATUSES, HybridWorker, Job, JobStatus
from automation.services.presence import is_online

# How an agent's reason starts when it refused to run a job as its group's Run as user (workers.identity's
# REFUSED_PREFIX: the domain does not import the agent). The agent's reason names the fix on the machine.
RUN_AS_REFUSED = "Run as: "


def run_as_explanation(job: Job) -> str:
    """A failed job's reason when its worker refused its Run as user: the agent's words and the portal's fix."""
    return (
        f"Failed before it started: {job.status_reason.removeprefix(RUN_AS_REFUSED)}. Or change the Run as of "
        f"hybrid worker group {job.group_name} (Hybrid worker group settings) to Default, or to a credential "
        "whose user that worker allows."
    )


@dataclass(frozen=True)
class Member:
    name: str
    online: bool
    last_seen: object
    capacity: int
    held: int


def _last_seen(member: Member) -> str:
    if member.last_seen is None:
        return f"{member.name} never seen"
    return f"{member.name} last seen {timezone.localtime(member.last_seen):%Y-%m-%d %H:%M:%S %Z}"


def reason_for_group(group_name: str, members: list[Member]) -> str:
    if not members:
        return (
            f"Waiting: hybrid worker group {group_name} has no workers. "
            f"Register one with `hybridworker register --group {group_name}`."
        )
    online = [m for m in members if m.online]
    if not online:
        shown = ", ".join(_last_seen(m) for m in members[:10])
        more = f" and {len(members) - 10} more" if len(members) > 10 else ""
        return f"Waiting: every worker in group {group_name} is offline ({shown}{more})."
    slots = sum(m.capacity for m in online)
    busy = sum(min(m.held, m.capacity) for m in online)
    if busy >= slots:
        return (
            f"Waiting: every online worker in group {group_name} is at capacity "
            f"({busy} of {slots} slots busy); it runs when a job ends."
        )
    return f"Waiting for a worker of group {group_name} to pick it up ({busy} of {slots} slots busy)."


def annotate_waiting_reasons(jobs: Iterable[Job]) -> None:
    """Set `waiting_reason` on each Queued job, and on a job that failed for its Run as user (None on the others)."""
    jobs = list(jobs)
    groups = {job.group_id for job in jobs if job.status == JobStatus.QUEUED and job.group_id}
    members: dict = defaultdict(list)
    if groups:
        workers = HybridWorker.objects.filter(group_id__in=groups).annotate(
            held=Count("jobs", filter=Q(jobs__status__in=ACTIVE_STATUSES))
        )
        now = timezone.now()
        for worker in workers.order_by("name"):
            members[worker.group_id].append(
                Member(
                    name=worker.name,
                    online=is_online(worker, now),
                    last_seen=worker.last_seen_at,
                    capacity=worker.capacity,
                    held=worker.held,
                )
            )
    for job in jobs:
        if job.status == JobStatus.FAILED and job.status_reason.startswith(RUN_AS_REFUSED):
            job.waiting_reason = run_as_explanation(job)
        elif job.status != JobStatus.QUEUED:
            job.waiting_reason = None
        elif job.group_id is None:
            job.waiting_reason = f"Waiting: hybrid worker group {job.group_name} no longer exists."
        else:
            reason = reason_for_group(job.group_name, members[job.group_id])
            # A retried job also says why it is queued again.
            job.waiting_reason = f"{job.status_reason}. {reason}" if job.status_reason else reason


def status_reason(job: Job) -> str:
    """What the blade and the API show as the job's reason."""
    waiting = getattr(job, "waiting_reason", None)
    return waiting if waiting is not None else job.status_reason

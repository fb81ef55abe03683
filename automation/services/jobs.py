"""Jobs: start on a group, claimed by exactly one member, streamed, ended once.

Every transition is one conditional UPDATE whose row count says whether it happened, so two
workers never both hold a job and a late message never moves a finished one.
"""

import dataclasses
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Case, PositiveIntegerField, Value, When
from django.utils import timezone

from automation import live
from automation.models import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    AutomationAccount,
    HybridWorker,
    HybridWorkerGroup,
    Job,
    JobStatus,
    JobStream,
    Role,
    Runbook,
    RunbookVersion,
    StartedBy,
    Webhook,
)
from automation.services import crypto, leases, sealing
from automation.services.access import require_role
from automation.services.actor import Actor
from automation.services.audit import record_event
from automation.services.checks import instant
from automation.services.errors import Conflict, InvalidInput
from automation.services.runbooks import (
    MASK,
    checked_job_parameters,
    checked_timeout,
    latest_version,
)
from automation.validators import NAME_RULE, is_name

MAX_RECORD_CHARS = 1024 * 1024
REASON_CHARS = 2000
# Of one attempt (the agent numbers each attempt's records from 0). Stored, a record's seq is job-wide:
# this plus the job's seq_base, past the earlier attempts' records and retry markers (a 64-bit column).
MAX_SEQ = 2**31 - 1
# A page shows a time in its reader's zone, up to a day off UTC either way: one day inside datetime's range.
# PostgreSQL's text holds no NUL, and neither database a lone surrogate (JSON may spell one as \ud800).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def split_secrets(declaration: list[dict[str, Any]], values: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(the values with secrets masked, for everyone to see; the secrets encrypted, for the runbook only)."""
    secret_names = {p["name"] for p in declaration if p.get("type") == "secret"}
    secrets = {name: value for name, value in values.items() if name in secret_names}
    shown = {name: (MASK if name in secrets else value) for name, value in values.items()}
    return shown, (crypto.encrypt(json.dumps(secrets)) if secrets else "")


def _secrets(job: Job) -> dict[str, Any]:
    if not job.secret_parameters:
        return {}
    text = crypto.decrypt(job.secret_parameters)
    return json.loads(text) if text else {}


def start_job(
    *,
    account: AutomationAccount,
    runbook_name: str,
    group_name: str,
    actor: Actor,
    parameters: Any = None,
    timeout_seconds: Any = None,
    from_text: bool = False,
) -> Job:
    """Queue a run of the runbook's latest published version on a group; its members decide who runs it."""
    require_role(account=account, actor=actor, role=Role.OPERATOR)
    # Not looked up unless it could be a name: a NUL in a query is an error on PostgreSQL, not a miss.
    if not is_name(runbook_name):
        raise InvalidInput(f"runbook is not a runbook's name. {NAME_RULE}", field="runbook")
    runbook = Runbook.objects.filter(account=account, name=runbook_name).first()
    if runbook is None:
        raise InvalidInput(f"There is no runbook named {runbook_name!r} in {account.name}.", field="runbook")
    version = latest_version(runbook)
    if version is None:
        raise InvalidInput(f"Runbook {runbook.name!r} has no published version: publish it first.", field="runbook")
    group = _group_to_run_on(account, group_name)
    values = checked_job_parameters(version.parameters, parameters, from_text=from_text)
    timeout = checked_timeout(timeout_seconds, from_text=from_text)
    return _queue(
        runbook=runbook,
        group=group,
        actor=actor,
        declaration=version.parameters,
        values=values,
        timeout_seconds=timeout if timeout is not None else runbook.timeout_seconds,
        version=version,
    )


# Start-AutomationRunbook nests: a job started by a job started by a job... this many levels below the first.
MAX_CHILD_DEPTH = 10


def start_child_job(
    *,
    parent: Job,
    runbook_name: Any,
    parameters: Any = None,
    run_on: Any = None,
    worker: HybridWorker,
    ip: str | None = None,
) -> Job:
    """Start-AutomationRunbook from a running job: a run of a published runbook of the parent's account,
    on `run_on` or else on the parent's own group, that records its parent. The caller has checked that
    `worker` holds `parent` under its lease; no person's role is asked, the job's authority is its own."""
    account = parent.account
    if not is_name(runbook_name):
        raise InvalidInput(f"runbook is not a runbook's name. {NAME_RULE}", field="runbook")
    if _generations_above(parent) >= MAX_CHILD_DEPTH:
        raise Conflict(
            f"Job {str(parent.pk)[:8]} is {MAX_CHILD_DEPTH} levels of child jobs deep already: a child may start "
            "children only so far, so a runbook that starts itself cannot run for ever.",
            code="too_many_generations",
        )
    runbook = Runbook.objects.filter(account=account, name=runbook_name).first()
    if runbook is None:
        raise InvalidInput(f"There is no runbook named {runbook_name!r} in {account.name}.", field="runbook")
    version = latest_version(runbook)
    if version is None:
        raise InvalidInput(f"Runbook {runbook.name!r} has no published version: publish it first.", field="runbook")
    group = _group_to_run_on(account, parent.group_name if run_on is None else run_on)
    values = checked_job_parameters(version.parameters, parameters)
    return _queue(
        runbook=runbook,
        group=group,
        actor=job_actor(job=parent, worker=worker, ip=ip),
        declaration=version.parameters,
        values=values,
        timeout_seconds=runbook.timeout_seconds,
        version=version,
        parent=parent,
    )


def _generations_above(job: Job) -> int:
    """How many parents stand above `job` (0 for one a person, a schedule or a webhook started), counted up
    to MAX_CHILD_DEPTH: one small query per generation, never more than that many."""
    count, parent_id = 0, job.parent_id
    while parent_id is not None and count < MAX_CHILD_DEPTH:
        count += 1
        parent_id = Job.objects.filter(pk=parent_id).values_list("parent_id", flat=True).first()
    return count


def job_actor(*, job: Job, worker: HybridWorker, ip: str | None = None) -> Actor:
    """A running job as the Activity log names it when it acts: "job 1a2b3c4d on worker web-01"."""
    label = f"job {str(job.pk)[:8]} on worker {worker.name}"
    return Actor(user=None, ip=ip, label=label[:150])


def start_test(
    *,
    runbook: Runbook,
    group_name: str,
    actor: Actor,
    parameters: Any = None,
    timeout_seconds: Any = None,
    from_text: bool = False,
) -> Job:
    """Run the draft as it is now (the Test pane): a job like any other, but of a snapshot of the draft,
    never retried, and kept out of the Jobs list."""
    account = runbook.account
    require_role(account=account, actor=actor, role=Role.OPERATOR)
    if not runbook.draft.strip():
        raise InvalidInput("The draft is empty: there is nothing to test.", field="content")
    group = _group_to_run_on(account, group_name)
    values = checked_job_parameters(runbook.parameters, parameters, from_text=from_text)
    timeout = checked_timeout(timeout_seconds, from_text=from_text)
    snapshot = {
        "runbook_type": runbook.runbook_type,
        "content": runbook.draft,
        "sha256": hashlib.sha256(runbook.draft.encode()).hexdigest(),
        "parameters": runbook.parameters,
    }
    return _queue(
        runbook=runbook,
        group=group,
        actor=actor,
        declaration=runbook.parameters,
        values=values,
        timeout_seconds=timeout if timeout is not None else runbook.timeout_seconds,
        snapshot=snapshot,
    )


def _group_to_run_on(account: AutomationAccount, group_name: Any) -> HybridWorkerGroup:
    if not is_name(group_name):
        raise InvalidInput(f"run_on is not a hybrid worker group's name. {NAME_RULE}", field="run_on")
    group = HybridWorkerGroup.objects.filter(account=account, name=group_name).first()
    if group is None:
        raise InvalidInput(f"There is no hybrid worker group named {group_name!r}.", field="run_on")
    if group.deleting_since is not None:
        raise InvalidInput(f"Hybrid worker group {group_name!r} is being deleted.", field="run_on")
    return group


def _queue(
    *,
    runbook: Runbook,
    group: HybridWorkerGroup,
    actor: Actor,
    declaration: list[dict[str, Any]],
    values: dict[str, Any],
    timeout_seconds: int | None,
    version: RunbookVersion | None = None,
    snapshot: dict[str, Any] | None = None,
    parent: Job | None = None,
    started_by: tuple[StartedBy, str] | None = None,
    webhook: Webhook | None = None,
    webhook_data: dict[str, Any] | None = None,
) -> Job:
    """Queue the job. `started_by` is (how, by whom) when no person starts it; a person is `actor`, who came
    through the portal or the API (`actor.via`), and a child job's starter is its parent. A webhook's call
    passes the webhook and its WebhookData, which is sealed to the job's row."""
    account = runbook.account
    if parent is not None:
        started_by = (StartedBy.PARENT, str(parent.pk))
    elif started_by is None:
        started_by = (StartedBy(actor.via or StartedBy.USER), actor.name)
    shown, secrets = split_secrets(declaration, values)
    now = timezone.now()
    job_id = uuid.uuid4()
    sealed_data = ""
    if webhook_data is not None:
        sealed_data = sealing.seal(
            account=account, kind="job", row_id=job_id, field="webhook_data", plaintext=json.dumps(webhook_data)
        )
    with transaction.atomic():
        # The row lock makes a concurrent delete_runbook wait for this job (and then refuse).
        if not Runbook.objects.select_for_update().filter(pk=runbook.pk).exists():
            raise InvalidInput(f"Runbook {runbook.name!r} was just deleted.", field="runbook")
        job = Job.objects.create(
            id=job_id,
            account=account,
            runbook=runbook,
            runbook_name=runbook.name,
            version=version,
            version_number=version.number if version is not None else 0,
            group=group,
            group_name=group.name,
            status=JobStatus.QUEUED,
            parameters=shown,
            secret_parameters=secrets,
            timeout_seconds=timeout_seconds,
            retries_left=runbook.retries if snapshot is None else 0,
            is_test=snapshot is not None,
            test_snapshot=snapshot,
            started_by_kind=started_by[0],
            started_by=started_by[1],
            queued_at=now,
            parent=parent,
            webhook=webhook,
            sealed_webhook_data=sealed_data,
        )
        details = {"runbook": runbook.name, "run_on": group.name}
        if version is not None:
            details["version"] = version.number
        if parent is not None:
            details["parent_job"] = str(parent.pk)
        if webhook is not None:
            details["webhook"] = webhook.name
        record_event(
            actor=actor, action="job.test" if snapshot else "job.start", account=account, target=job, details=details
        )
        live.push_job_status(job)
        live.wake_group_agents(group.pk)
    return job


def held_job_count(worker: HybridWorker) -> int:
    """How many jobs the worker holds now (claimed, running or stopping)."""
    return Job.objects.filter(worker=worker, status__in=ACTIVE_STATUSES).count()


def claim_jobs(*, worker: HybridWorker, limit: int = 1) -> list[Job]:
    """Take up to `limit` queued jobs of the worker's group, never more than its free capacity."""
    now = timezone.now()
    with transaction.atomic():
        # Two claims for one worker at once (its long-poll and an end report) queue on its row, so
        # together they never take more than its capacity.
        if HybridWorker.objects.select_for_update().filter(pk=worker.pk).values_list("pk").first() is None:
            return []  # removed meanwhile: nothing is handed to a worker that is gone
        free = min(limit, worker.capacity - held_job_count(worker))
        if free <= 0:
            return []
        # SKIP LOCKED on PostgreSQL: claimers pass over each other's rows instead of queueing on them.
        # SQLite ignores it; there the transaction is IMMEDIATE, so claimers take turns.
        queued_at = dict(
            Job.objects.select_for_update(skip_locked=True)
            .filter(group_id=worker.group_id, status=JobStatus.QUEUED)
            .order_by("queued_at")
            .values_list("pk", "queued_at")[:free]
        )
        if not queued_at:
            return []
        candidates = list(queued_at)
        lease = uuid.uuid4()
        # Pickup latency per job, in the same single UPDATE as the claim.
        pickup = Case(
            *[When(pk=pk, then=Value(_ms_between(since, now))) for pk, since in queued_at.items()],
            output_field=PositiveIntegerField(),
        )
        Job.objects.filter(pk__in=candidates, status=JobStatus.QUEUED).update(
            status=JobStatus.ACTIVATING,
            worker=worker,
            worker_name=worker.name,
            claimed_at=now,
            lease_id=lease,
            pickup_ms=pickup,
            status_reason="",
        )
        # The account too: job_for_agent opens a webhook's sealed data with its key, on the long-poll's event loop;
        # the group's Run as credential for its user name.
        jobs = list(
            Job.objects.select_related("version", "account", "group__run_as_credential").filter(
                pk__in=candidates, lease_id=lease
            )
        )
        for job in jobs:
            live.push_job_status(job)
    return jobs


def _ms_between(since: datetime | None, now: datetime) -> int:
    return 0 if since is None else max(0, round((now - since).total_seconds() * 1000))


def stop_requests(*, worker: HybridWorker) -> list[str]:
    return [str(pk) for pk in Job.objects.filter(worker=worker, status=JobStatus.STOPPING).values_list("pk", flat=True)]


WEBHOOK_DATA = "WebhookData"


def webhook_data(job: Job) -> dict[str, Any] | None:
    """The WebhookData of a job a webhook started ({"WebhookName", "RequestBody", "RequestHeader"}), else None."""
    if not job.sealed_webhook_data:
        return None
    text = sealing.unseal(
        account=job.account, kind="job", row_id=job.pk, field="webhook_data", sealed=job.sealed_webhook_data
    )
    return json.loads(text)


def job_for_agent(job: Job) -> dict[str, Any]:
    """What an agent needs to run a job: the exact content it must check against the SHA-256, and the
    parameters with their secrets, which reach nobody else."""
    if job.test_snapshot is not None:
        source = job.test_snapshot
    else:
        version = job.version
        source = {
            "runbook_type": version.runbook_type,
            "content": version.content,
            "sha256": version.sha256,
            "parameters": version.parameters,
        }
    parameters = {**job.parameters, **_secrets(job)}
    data = webhook_data(job)
    if data is not None and any(p.get("name") == WEBHOOK_DATA for p in source["parameters"]):
        # As Azure passes it: a named argument of the runbook that declares it.
        parameters[WEBHOOK_DATA] = data
    return {
        "id": str(job.pk),
        "lease": str(job.lease_id),
        "runbook": job.runbook_name,
        "version": job.version_number,  # 0: the draft, in the Test pane
        "runbook_type": source["runbook_type"],
        "content": source["content"],
        "sha256": source["sha256"],
        "parameters": parameters,
        "declared": source["parameters"],
        # Always, whether declared or not: the agent writes it into the parameters file for the helpers.
        "webhook_data": data,
        "timeout_seconds": job.timeout_seconds,
        "attempt": job.attempt,
        "run_as": _run_as(job),
    }


def _run_as(job: Job) -> str | None:
    """The local user the group runs its jobs as (Hybrid worker group settings), None for the agent's default.
    The user name alone: an agent running as root switches user without the password, which stays here."""
    credential = job.group.run_as_credential if job.group_id else None
    return credential.username if credential is not None else None


@dataclass(frozen=True)
class Record:
    seq: int
    stream: str
    text: str
    time: datetime


def storable_text(text: str) -> str:
    """The text with each character the database cannot hold (NUL, a lone surrogate) replaced by U+FFFD,
    the same on both databases: a run's output is kept, not refused for one byte."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def _record_time(value: Any, index: int) -> datetime:
    """An ISO 8601 date and time with its offset, as the instant in UTC. A time without an offset would be
    read in the server's zone, and one an offset pushes out of range cannot be stored or shown."""
    moment = instant(value) if isinstance(value, str) else None
    if moment is not None:
        return moment
    raise InvalidInput(
        f"records[{index}].time is an ISO 8601 date and time with its UTC offset (e.g. 2026-11-25T10:00:00Z), "
        "from 0001-01-02 to 9999-12-30 in UTC; leave it out to use the time received.",
        field="records",
    )


def checked_records(records: Any) -> list[Record]:
    if not isinstance(records, list):
        raise InvalidInput("records is a list.", field="records")
    clean = []
    first_with: dict[int, int] = {}
    received = timezone.now()
    for index, item in enumerate(records):
        if not isinstance(item, dict):
            raise InvalidInput("Each record is an object with seq, stream, text and time.", field="records")
        seq, stream, text = item.get("seq"), item.get("stream"), item.get("text")
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
            raise InvalidInput(f"record.seq is a whole number from 0 to {MAX_SEQ}.", field="records")
        if seq in first_with:
            # Storing is idempotent by seq, so one of the two would be dropped without a word.
            raise InvalidInput(
                f"records[{index}] has seq {seq}, as records[{first_with[seq]}] does: each record has a seq of its "
                "own.",
                field="records",
            )
        first_with[seq] = index
        if stream not in JobStream.Stream.values:
            raise InvalidInput(f"record.stream is one of {', '.join(JobStream.Stream.values)}.", field="records")
        if not isinstance(text, str):
            raise InvalidInput("record.text is a string.", field="records")
        moment = _record_time(item["time"], index) if "time" in item else received
        clean.append(Record(seq=seq, stream=stream, text=storable_text(text[:MAX_RECORD_CHARS]), time=moment))
    return clean


def _on_server_clock(job: Job, records: list[Record]) -> list[Record]:
    """Each record's time as the agent stamped it, kept within what the server knows: not before the job was
    claimed (or, once it runs, started), not after the record arrived. The agent's clock may be off; inside
    those bounds its times are kept, so the lines keep their order and their gaps."""
    arrived = timezone.now()
    earliest = job.started_at or job.claimed_at or arrived
    return [dataclasses.replace(r, time=min(max(r.time, earliest), arrived)) for r in records]


def append_records(*, worker: HybridWorker, job_id, lease, records: list[Record]) -> Job:
    """Store a batch of stream records (idempotent by seq); the first one marks the job Running, from the
    time its first record was written."""
    with transaction.atomic():
        job = leases.held_job(worker=worker, job_id=job_id, lease=lease)
        if job.status in FINAL_STATUSES:
            raise Conflict(f"This job already ended ({job.status}).", code="job_ended")
        records = _on_server_clock(job, records)
        _store(job, records)
        _mark_running(job, since=min((r.time for r in records), default=None))
        if records:
            live.after_commit(live.push_to_account, job.account_id, {"type": "job-streams", "job_id": str(job.pk)})
    return job


def _store(job: Job, records: list[Record]) -> None:
    if records:
        # seq_base stays far inside 64 bits: each attempt adds at most MAX_SEQ + 2, and attempts are few.
        base = job.seq_base
        JobStream.objects.bulk_create(
            [JobStream(job=job, seq=base + r.seq, stream=r.stream, text=r.text, time=r.time) for r in records],
            ignore_conflicts=True,
        )


def _mark_running(job: Job, *, since: datetime | None = None) -> None:
    """Running from `since` (its first record, already on the server's clock), else from now: the agent sends
    its first batch a moment after the runbook started, so the batch's arrival is later than the start."""
    if job.status != JobStatus.ACTIVATING:
        return
    started = since or timezone.now()
    if Job.objects.filter(pk=job.pk, status=JobStatus.ACTIVATING, lease_id=job.lease_id).update(
        status=JobStatus.RUNNING, started_at=started
    ):
        job.status, job.started_at = JobStatus.RUNNING, started
        live.push_job_status(job)


def finish_job(
    *,
    worker: HybridWorker,
    job_id,
    lease,
    status: str,
    exit_code: int | None = None,
    reason: str = "",
    records: list[Record] | None = None,
) -> Job:
    """The end state, once: a report for a job that already ended, or under an old lease, changes nothing."""
    if status not in FINAL_STATUSES:
        raise InvalidInput("status is one of Completed, Failed or Stopped.", field="status")
    with transaction.atomic():
        job = leases.held_job(worker=worker, job_id=job_id, lease=lease)
        records = _on_server_clock(job, records or [])
        _store(job, records)
        now = timezone.now()
        changed = Job.objects.filter(pk=job.pk, lease_id=lease, status__in=ACTIVE_STATUSES).update(
            status=status,
            exit_code=exit_code,
            status_reason=storable_text((reason or "")[:REASON_CHARS]),
            ended_at=now,
            # A job that ends before it sent a batch started when its first record was written.
            started_at=job.started_at or min((r.time for r in records), default=now),
            secret_parameters="",
        )
        if not changed:
            raise Conflict(f"This job already ended ({job.status}).", code="job_ended")
        job.refresh_from_db()
        live.push_job_status(job)
        # A slot is free again: a poll this worker has waiting may claim at once (and learns that it
        # holds one job fewer, which decides how long it defers to less busy members).
        live.wake_worker(worker.pk)
    return job


def request_stop(*, job: Job, actor: Actor) -> Job:
    """A queued job stops at once; a running one goes Stopping until its agent confirms."""
    require_role(account=job.account, actor=actor, role=Role.OPERATOR)
    now = timezone.now()
    with transaction.atomic():
        # Each attempt is one conditional UPDATE: of a stop and a claim (or an end) at once, one wins.
        stopped_at_once = Job.objects.filter(pk=job.pk, status__in=[JobStatus.NEW, JobStatus.QUEUED]).update(
            status=JobStatus.STOPPED,
            ended_at=now,
            stop_requested_at=now,
            status_reason="Stopped before it started.",
            secret_parameters="",
        )
        if not stopped_at_once:
            if Job.objects.filter(pk=job.pk, status__in=[JobStatus.ACTIVATING, JobStatus.RUNNING]).update(
                status=JobStatus.STOPPING, stop_requested_at=now
            ):
                live.wake_worker(job.worker_id)
            elif not Job.objects.filter(pk=job.pk, status=JobStatus.STOPPING).exists():
                job.refresh_from_db()
                raise Conflict(f"This job already ended ({job.status}).", code="job_ended")
        job.refresh_from_db()
        record_event(actor=actor, action="job.stop", account=job.account, target=job)
        live.push_job_status(job)
    return job

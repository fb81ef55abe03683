"""What a running job may read and change of its own account's shared resources (Azure's
Get-AutomationVariable, Get-AutomationPSCredential, ... and Start-AutomationRunbook), asked through its worker.

The job's access is its worker's credential (checked by the agent API) plus the lease of this one claim: only
while that worker holds the job under that lease and its runbook runs (Activating, Running, or Stopping: a
stopping job's runbook is still running) is anything answered; otherwise `lease_lost`, whatever the reason
(ended, taken back, held by another worker, another account's job), so the answer tells a stale relay nothing
about other jobs. Assets are looked up in the job's own account only: another account's asset is as missing
as one that does not exist.

Every read of secret material (an encrypted variable, a credential, a connection with encrypted fields, a
certificate) is recorded in the Activity log as done by "job J on worker W", and so is a job's change of a
variable; the entries name the asset, never its value. Plain variables are read unrecorded, as on Azure.
Each answer lists under "secret" the strings the agent masks in the job's streams.
"""

import base64
import json
import uuid
from typing import Any

from django.db import transaction

from automation.models import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    Certificate,
    Connection,
    Credential,
    HybridWorker,
    Job,
    JobStream,
    Variable,
)
from automation.queries.waiting import annotate_waiting_reasons, status_reason
from automation.services import assets
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.audit import record_event
from automation.services.certificates import certificate_pkcs12
from automation.services.connections import read_connection_values
from automation.services.credentials import read_credential_secret
from automation.services.errors import Conflict, InvalidInput, NotFound
from automation.services.variables import read_variable_value, set_variable_value

LEASE_HEADER = "X-Job-Lease"
# Enough for any child's output a runbook means to use; more would only be held in memory twice.
MAX_CHILD_OUTPUT_RECORDS = 10_000


def checked_lease(value: Any) -> uuid.UUID:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"The {LEASE_HEADER} header is needed: the lease of the job's claim.", field=LEASE_HEADER)
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(
            f"The {LEASE_HEADER} header is the lease of the job's claim, a UUID.", field=LEASE_HEADER
        ) from None


def running_job(*, worker: HybridWorker, job_id, lease: Any) -> Job:
    """The job, locked, if `worker` holds it under `lease` and its runbook runs; Conflict `lease_lost` otherwise.
    Call it inside a transaction: the row lock holds a take-back or an end report until the answer is made, so
    no secret is handed out under a lease that has already moved on."""
    lease = checked_lease(lease)
    job = (
        Job.objects.select_for_update(of=("self",))
        .select_related("account")
        .filter(pk=job_id, worker=worker, lease_id=lease, status__in=ACTIVE_STATUSES)
        .first()
    )
    if job is None:
        raise Conflict(
            "This job is not running under this lease on this worker (it ended, or its lease moved on): its "
            "runbook has no access to the account's assets any more.",
            code="lease_lost",
        )
    return job


def _find(model, job: Job, name: Any, **options):
    try:
        return assets.find(model, account=job.account, name=name, **options)
    except NotFound as exc:
        raise NotFound(exc.detail, code="asset_not_found") from None


def _audit_read(actor: Actor, job: Job, worker: HybridWorker, row) -> None:
    record_event(
        actor=actor,
        action=f"{assets.kind_of(type(row))}.read",
        account=job.account,
        target=row,
        details={"job": str(job.pk), "worker": worker.name},
    )


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _strings_in(value: Any) -> list[str]:
    """The strings of a JSON value's leaves (not its keys): what a runbook may print of an object it read."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings_in(item)]
    return []


def _secrets(*values: str) -> list[str]:
    # An empty string masks nothing; the same string twice is masked once.
    return list(dict.fromkeys(v for v in values if v))


def read_variable(*, worker: HybridWorker, job_id, lease: Any, name: Any, ip: str | None = None) -> dict[str, Any]:
    """{"name", "value", "encrypted", "secret"}: for an encrypted variable, "secret" holds its value's JSON text
    and the strings in it (for a string value, the string itself)."""
    with transaction.atomic():
        job = running_job(worker=worker, job_id=job_id, lease=lease)
        variable = _find(Variable, job, name)
        value = read_variable_value(variable)
        secret = []
        if variable.encrypted:
            secret = _secrets(
                json.dumps(value, ensure_ascii=False, separators=(",", ":")), _as_text(value), *_strings_in(value)
            )
            _audit_read(job_services.job_actor(job=job, worker=worker, ip=ip), job, worker, variable)
    return {"name": variable.name, "value": value, "encrypted": variable.encrypted, "secret": secret}


def set_variable(*, worker: HybridWorker, job_id, lease: Any, name: Any, value: Any, ip: str | None = None) -> Variable:
    """Set-AutomationVariable: the variable must exist (a job creates none); an encrypted one stays encrypted.
    Recorded as "variable X changed" by the job."""
    with transaction.atomic():
        job = running_job(worker=worker, job_id=job_id, lease=lease)
        variable = _find(Variable, job, name)
        return set_variable_value(
            variable=variable, value=value, actor=job_services.job_actor(job=job, worker=worker, ip=ip)
        )


def read_credential(*, worker: HybridWorker, job_id, lease: Any, name: Any, ip: str | None = None) -> dict[str, Any]:
    """{"name", "username", "password", "secret": [password]} (Get-AutomationPSCredential)."""
    with transaction.atomic():
        job = running_job(worker=worker, job_id=job_id, lease=lease)
        credential = _find(Credential, job, name)
        secret = read_credential_secret(credential)
        _audit_read(job_services.job_actor(job=job, worker=worker, ip=ip), job, worker, credential)
    return {**secret, "name": credential.name, "secret": _secrets(secret["password"])}


def read_connection(*, worker: HybridWorker, job_id, lease: Any, name: Any, ip: str | None = None) -> dict[str, Any]:
    """{"name", "connection_type", "values", "secret"}: every field's value, the encrypted ones (listed as text
    in "secret") decrypted; the read is recorded when the type has encrypted fields."""
    with transaction.atomic():
        job = running_job(worker=worker, job_id=job_id, lease=lease)
        connection = _find(Connection, job, name, related=("connection_type",))
        values = read_connection_values(connection)
        encrypted = [f["name"] for f in connection.connection_type.fields if f["encrypted"]]
        if encrypted:
            _audit_read(job_services.job_actor(job=job, worker=worker, ip=ip), job, worker, connection)
    return {
        "name": connection.name,
        "connection_type": connection.connection_type.name,
        "values": values,
        "secret": _secrets(*(_as_text(values[f]) for f in encrypted if values.get(f) is not None)),
    }


def read_certificate(*, worker: HybridWorker, job_id, lease: Any, name: Any, ip: str | None = None) -> dict[str, Any]:
    """{"name", "thumbprint", "pkcs12_base64"}: the certificate (with its key, if it has one) as a password-less
    PKCS#12; Conflict `not_exportable` for a certificate not marked exportable, which is not recorded as read."""
    with transaction.atomic():
        job = running_job(worker=worker, job_id=job_id, lease=lease)
        certificate = _find(Certificate, job, name)
        content = certificate_pkcs12(certificate)
        _audit_read(job_services.job_actor(job=job, worker=worker, ip=ip), job, worker, certificate)
    return {
        "name": certificate.name,
        "thumbprint": certificate.thumbprint,
        "pkcs12_base64": base64.b64encode(content).decode("ascii"),
    }


def start_child(
    *,
    worker: HybridWorker,
    job_id,
    lease: Any,
    runbook: Any,
    parameters: Any = None,
    run_on: Any = None,
    ip: str | None = None,
) -> Job:
    """Start-AutomationRunbook: a new job of a published runbook of the job's account, its parent this job."""
    with transaction.atomic():
        parent = running_job(worker=worker, job_id=job_id, lease=lease)
        child = job_services.start_child_job(
            parent=parent, runbook_name=runbook, parameters=parameters, run_on=run_on, worker=worker, ip=ip
        )
    return child


def child_of(*, worker: HybridWorker, job_id, lease: Any, child_id) -> Job:
    """A child job of the running job (NotFound for any other job, a child of another parent included)."""
    with transaction.atomic():
        parent = running_job(worker=worker, job_id=job_id, lease=lease)
        child = Job.objects.filter(pk=child_id, parent=parent).first()
    if child is None:
        raise NotFound(f"Job {parent.pk} started no job {child_id}.", code="no_such_job")
    return child


def child_state(child: Job) -> dict[str, Any]:
    """{"id", "status", "status_reason", "output": [text of its Output records so far, in order]} of a child job,
    as it is now. A queued one's reason says why it waits, as its blade does. Should its row be gone (deleted
    while waited on), its last known state, without output."""
    current = Job.objects.filter(pk=child.pk).first()
    if current is None:
        return {"id": str(child.pk), "status": child.status, "status_reason": child.status_reason, "output": []}
    annotate_waiting_reasons([current])
    output = list(
        JobStream.objects.filter(job=current, stream=JobStream.Stream.OUTPUT)
        .order_by("seq")
        .values_list("text", flat=True)[:MAX_CHILD_OUTPUT_RECORDS]
    )
    return {"id": str(current.pk), "status": current.status, "status_reason": status_reason(current), "output": output}


def is_final(state: dict[str, Any]) -> bool:
    return state["status"] in FINAL_STATUSES

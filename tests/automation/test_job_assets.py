"""What a running job reads and sets of its account's shared resources, through the service: only the worker
that holds it under its lease, only while its runbook runs, only its own account's assets; every read of a
secret recorded as the job's, never with the value; the values to mask listed with each answer."""

import base64
import uuid

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from automation.models import AuditEvent, Job, JobStatus, Variable
from automation.services import job_assets as svc
from automation.services import jobs as job_services
from automation.services.errors import Conflict, InvalidInput, NotFound
from automation.services.leases import release_worker
from automation.services.variables import read_variable_value
from tests.support.assets import SYSTEM, audit_text
from tests.support.job_assets import ADMIN_PASSWORD, CONN_PASSWORD, DB_PASSWORD, LIMITS, SECRETS, JobAssetsWorld
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

READS = {
    "variable": svc.read_variable,
    "credential": svc.read_credential,
    "connection": svc.read_connection,
    "certificate": svc.read_certificate,
}
NAMES = {"variable": "DbPassword", "credential": "Admin", "connection": "OrdersDb", "certificate": "WebCert"}


@pytest.fixture
def world(people):
    return JobAssetsWorld(people)


def ask(world, job, kind="variable", name=None, *, worker="web-01", lease=None):
    return READS[kind](
        worker=world.workers[worker],
        job_id=job.pk,
        lease=str(job.lease_id) if lease is None else lease,
        name=NAMES[kind] if name is None else name,
    )


def reads_recorded() -> list[tuple]:
    return list(
        AuditEvent.objects.filter(action__endswith=".read")
        .order_by("created_at")
        .values_list("action", "target_name", "actor_name", "details")
    )


# ---- what a running job reads ---------------------------------------------------------------------------------


def test_a_plain_variable_is_read_without_a_record_and_with_nothing_to_mask(world):
    job = world.held()

    assert ask(world, job, name="Region") == {
        "name": "Region",
        "value": "westeurope",
        "encrypted": False,
        "secret": [],
    }
    assert reads_recorded() == []


def test_names_are_found_whatever_their_case_as_on_azure(world):
    job = world.held()

    assert ask(world, job, name="region")["name"] == "Region"


def test_an_encrypted_variable_is_read_decrypted_recorded_as_the_jobs_and_listed_to_mask(world):
    job = world.held()

    answer = ask(world, job)

    assert answer == {
        "name": "DbPassword",
        "value": DB_PASSWORD,
        "encrypted": True,
        "secret": [f'"{DB_PASSWORD}"', DB_PASSWORD],
    }
    short = str(job.pk)[:8]
    assert reads_recorded() == [
        ("variable.read", "DbPassword", f"job {short} on worker web-01", {"job": str(job.pk), "worker": "web-01"})
    ]


def test_an_encrypted_object_is_masked_as_its_json_text_and_each_string_in_it(world):
    job = world.held()

    answer = ask(world, job, name="Limits")

    assert answer["value"] == LIMITS
    assert answer["secret"] == [
        '{"cpu":4,"key":"Limits-Secret-0815"}',
        '{"cpu": 4, "key": "Limits-Secret-0815"}',
        "Limits-Secret-0815",
    ]


def test_a_credential_gives_its_user_name_and_password(world):
    job = world.held()

    answer = ask(world, job, "credential")

    assert answer == {
        "name": "Admin",
        "username": "CONTOSO\\svc-runbooks",
        "password": ADMIN_PASSWORD,
        "secret": [ADMIN_PASSWORD],
    }
    assert [row[:2] for row in reads_recorded()] == [("credential.read", "Admin")]


def test_a_connection_gives_every_field_and_masks_the_encrypted_ones(world):
    job = world.held()

    answer = ask(world, job, "connection")

    assert answer == {
        "name": "OrdersDb",
        "connection_type": "Database",
        "values": {"Server": "sql.westeurope.contoso.test", "Password": CONN_PASSWORD},
        "secret": [CONN_PASSWORD],
    }
    assert [row[:2] for row in reads_recorded()] == [("connection.read", "OrdersDb")]


def test_a_connection_without_encrypted_fields_is_read_unrecorded(world):
    from automation.services.connections import create_connection

    create_connection(
        account=world.account,
        name="Plain",
        connection_type="AzureServicePrincipal",
        values={"ApplicationId": "a", "TenantId": "t", "CertificateThumbprint": "c", "SubscriptionId": "s"},
        actor=SYSTEM,
    )
    job = world.held()

    assert ask(world, job, "connection", "Plain")["secret"] == []
    assert reads_recorded() == []


def test_an_exportable_certificate_comes_as_a_password_less_pkcs12_with_its_key(world):
    job = world.held()

    answer = ask(world, job, "certificate")

    assert (answer["name"], answer["thumbprint"]) == ("WebCert", world.made.thumbprint)
    key, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(answer["pkcs12_base64"]), None)
    assert cert.fingerprint(cert.signature_hash_algorithm) == world.made.cert.fingerprint(cert.signature_hash_algorithm)
    assert key is not None
    assert [row[:2] for row in reads_recorded()] == [("certificate.read", "WebCert")]


def test_a_certificate_that_is_not_exportable_is_refused_and_nothing_is_recorded(world):
    job = world.held()
    before = state()

    with pytest.raises(Conflict) as refused:
        ask(world, job, "certificate", "PublicCert")

    assert refused.value.code == "not_exportable"
    assert state() == before


@pytest.mark.parametrize("kind", sorted(READS))
def test_a_missing_asset_is_404_naming_it_and_another_accounts_is_as_missing(world, kind):
    job = world.held()
    job_services.start_job(account=world.other, runbook_name="parent", group_name="b-lab", actor=SYSTEM)
    before = state()

    for name in ("Nothing", "Theirs"):
        with pytest.raises(NotFound) as missing:
            ask(world, job, kind, name)
        assert missing.value.code == "asset_not_found"
        assert name in missing.value.detail and world.account.name in missing.value.detail

    assert state() == before


def test_the_same_name_in_another_account_is_never_what_a_job_reads(world):
    """Account B has its own "DbPassword", "Admin", "OrdersDb": a job of A reads A's, a job of B reads B's."""
    job_a, job_b = world.held(), world.held("b-01", "b-lab", world.other)

    assert ask(world, job_a)["value"] == DB_PASSWORD
    other = ask(world, job_b, worker="b-01")
    assert other["value"] != DB_PASSWORD
    assert ask(world, job_b, "credential", worker="b-01")["password"] != ADMIN_PASSWORD


# ---- who may: the worker that holds the job, under its lease, while it runs --------------------------------


@pytest.mark.parametrize("status", [JobStatus.ACTIVATING, JobStatus.RUNNING, JobStatus.STOPPING])
def test_a_job_whose_runbook_runs_may_read(world, status):
    job = world.running() if status != JobStatus.ACTIVATING else world.held()
    if status == JobStatus.STOPPING:
        job = job_services.request_stop(job=job, actor=SYSTEM)
    assert Job.objects.get(pk=job.pk).status == status

    assert ask(world, job)["value"] == DB_PASSWORD


def refused_everything(world, job, **options) -> None:
    """Every read, the set and the child start are lease_lost, and nothing is written or recorded."""
    before = state()
    for kind in READS:
        with pytest.raises(Conflict) as refused:
            ask(world, job, kind, **options)
        assert refused.value.code == "lease_lost"
    worker = world.workers[options.get("worker", "web-01")]
    lease = options.get("lease", str(job.lease_id))
    with pytest.raises(Conflict):
        svc.set_variable(worker=worker, job_id=job.pk, lease=lease, name="Region", value="changed")
    with pytest.raises(Conflict):
        svc.start_child(worker=worker, job_id=job.pk, lease=lease, runbook="child", parameters={"who": "x"})
    assert state() == before


def test_another_lease_is_refused(world):
    refused_everything(world, world.held(), lease=str(uuid.uuid4()))


def test_another_worker_of_the_same_group_or_another_group_is_refused(world):
    job = world.held()
    refused_everything(world, job, worker="web-02")
    refused_everything(world, job, worker="db-01")


def test_a_worker_of_another_account_is_refused_even_with_the_right_lease(world):
    refused_everything(world, world.held(), worker="b-01")


@pytest.mark.parametrize("status", ["Completed", "Failed", "Stopped"])
def test_once_the_job_has_ended_its_lease_reads_nothing(world, status):
    job = world.running()
    world.finish(job, status=status)

    refused_everything(world, job)


def test_a_job_taken_back_and_claimed_by_another_worker_is_refused_to_the_old_one(world):
    job = world.held()
    release_worker(worker=world.workers["web-01"])  # back to Queued
    (again,) = job_services.claim_jobs(worker=world.workers["web-02"], limit=1)
    assert again.pk == job.pk and again.lease_id != job.lease_id

    refused_everything(world, job)  # the old worker, its old lease
    assert ask(world, again, worker="web-02")["value"] == DB_PASSWORD


def test_a_queued_job_reads_nothing(world):
    job = job_services.start_job(account=world.account, runbook_name="parent", group_name="lab", actor=SYSTEM)
    refused_everything(world, job, lease=str(uuid.uuid4()))


@pytest.mark.parametrize("lease", ["", "not-a-uuid", None])
def test_a_missing_or_malformed_lease_is_bad_input_naming_the_header(world, lease):
    job = world.held()
    before = state()

    with pytest.raises(InvalidInput) as refused:
        svc.read_variable(worker=world.workers["web-01"], job_id=job.pk, lease=lease, name="DbPassword")

    assert refused.value.field == "X-Job-Lease"
    assert state() == before


# ---- what a running job sets -------------------------------------------------------------------------------


def test_a_job_sets_a_plain_variable_and_the_change_is_recorded_as_the_jobs(world):
    job = world.held()

    svc.set_variable(
        worker=world.workers["web-01"], job_id=job.pk, lease=str(job.lease_id), name="region", value=[1, 2]
    )

    variable = Variable.objects.select_related("account").get(name="Region", account=world.account)
    assert read_variable_value(variable) == [1, 2]
    label = f"job {str(job.pk)[:8]} on worker web-01"
    assert variable.updated_by == label
    event = AuditEvent.objects.get(action="variable.change")
    assert (event.target_name, event.actor_name, event.details) == ("Region", label, {"fields": ["value"]})


def test_an_encrypted_variable_set_by_a_job_stays_encrypted(world):
    job = world.held()
    new = "New-Db-Pa55word-0001"

    variable = svc.set_variable(
        worker=world.workers["web-01"], job_id=job.pk, lease=str(job.lease_id), name="DbPassword", value=new
    )

    assert variable.encrypted
    assert new not in audit_text()
    assert ask(world, job)["value"] == new


def test_a_job_creates_no_variable(world):
    job = world.held()
    before = state()

    with pytest.raises(NotFound) as missing:
        svc.set_variable(worker=world.workers["web-01"], job_id=job.pk, lease=str(job.lease_id), name="New", value=1)

    assert missing.value.code == "asset_not_found"
    assert state() == before


def test_a_value_json_cannot_hold_is_refused_naming_value_and_nothing_is_written(world):
    job = world.held()
    before = state()

    for value in ["x" * 1_048_577, float("nan"), {1: "non-string key"}]:
        with pytest.raises(InvalidInput) as refused:
            svc.set_variable(
                worker=world.workers["web-01"], job_id=job.pk, lease=str(job.lease_id), name="Region", value=value
            )
        assert refused.value.field == "value"

    assert state() == before


# ---- no secret anywhere but in the answers ---------------------------------------------------------------------


def test_no_secret_is_in_any_stored_row_after_every_kind_of_read(world):
    job = world.held()
    for kind in READS:
        ask(world, job, kind)
    ask(world, job, name="Limits")

    stored = repr(state(ignoring=()))
    assert [secret for secret in SECRETS if secret in stored] == []
    assert len(reads_recorded()) == 5

"""Agent API, job side: what a running runbook reads and sets of its account's shared resources and the child
jobs it starts, relayed by its agent with the worker credential and the job's lease (X-Job-Lease). Only the
worker that holds the job under that lease, while it runs; only the job's own account; every refusal leaves
everything as it was; no secret in any audit entry or log line."""

import json
import logging
import threading
import uuid

import pytest
from django.db import connections

from automation.api.agent import assets as agent_assets
from automation.models import AuditEvent, Job, JobStatus, Variable
from automation.services import jobs as job_services
from automation.services.leases import release_worker
from automation.services.variables import read_variable_value
from tests.automation.api.helpers import assert_error, bearer
from tests.support.assets import SYSTEM, audit_text
from tests.support.job_assets import ADMIN_PASSWORD, CONN_PASSWORD, DB_PASSWORD, OTHER_SECRET, SECRETS, JobAssetsWorld
from tests.support.state import state

pytestmark = pytest.mark.sqlite

KINDS = {"variable": "DbPassword", "credential": "Admin", "connection": "OrdersDb", "certificate": "WebCert"}


@pytest.fixture
def world(people):
    return JobAssetsWorld(people)


@pytest.fixture
def logged(caplog):
    """Every log line of the request handling, at every level."""
    caplog.set_level(logging.DEBUG)
    return caplog


def url(world, job, rest: str, account=None) -> str:
    return f"/agentsvc/accounts/{(account or world.account).pk}/v1/jobs/{job.pk}/{rest}"


def headers(world, job, *, worker="web-01", lease=None) -> dict:
    found = {**bearer(world.creds[worker])}
    lease = str(job.lease_id) if lease is None else lease
    if lease is not False:
        found["X-Job-Lease"] = lease
    return found


def get(client, world, job, rest, *, account=None, **options):
    return client.get(url(world, job, rest, account), headers=headers(world, job, **options))


def send(client, world, job, method, rest, body, *, account=None, **options):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return getattr(client, method)(
        url(world, job, rest, account),
        data=data,
        content_type="application/json",
        headers=headers(world, job, **options),
    )


def read(client, world, job, kind, name=None, **options):
    return get(client, world, job, f"{kind}s/{name or KINDS[kind]}", **options)


# ---- the answers ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_kind_is_read_as_the_contract_says_and_never_kept_by_a_cache(agent, world):
    job = world.held()

    answers = {kind: read(agent, world, job, kind) for kind in KINDS}

    for kind, response in answers.items():
        assert response.status_code == 200, (kind, response.content)
        assert "no-store" in response["Cache-Control"]
    assert answers["variable"].json() == {
        "name": "DbPassword",
        "value": DB_PASSWORD,
        "encrypted": True,
        "secret": [f'"{DB_PASSWORD}"', DB_PASSWORD],
    }
    assert answers["credential"].json() == {
        "name": "Admin",
        "username": "CONTOSO\\svc-runbooks",
        "password": ADMIN_PASSWORD,
        "secret": [ADMIN_PASSWORD],
    }
    assert answers["connection"].json() == {
        "name": "OrdersDb",
        "connection_type": "Database",
        "values": {"Server": "sql.westeurope.contoso.test", "Password": CONN_PASSWORD},
        "secret": [CONN_PASSWORD],
    }
    certificate = answers["certificate"].json()
    assert set(certificate) == {"name", "thumbprint", "pkcs12_base64"}
    assert certificate["thumbprint"] == world.made.thumbprint
    plain = read(agent, world, job, "variable", "Region").json()
    assert plain == {"name": "Region", "value": "westeurope", "encrypted": False, "secret": []}


@pytest.mark.django_db
def test_a_name_in_the_path_is_url_encoded(agent, world):
    from automation.services.variables import create_variable

    create_variable(account=world.account, name="Build number.main", value=41, actor=SYSTEM)
    job = world.held()

    response = read(agent, world, job, "variable", "Build%20number.main")

    assert response.status_code == 200, response.content
    assert response.json()["value"] == 41


@pytest.mark.django_db
def test_every_read_of_a_secret_is_in_the_activity_log_as_the_jobs_without_its_value(agent, world, logged):
    job = world.held()
    for kind in KINDS:
        assert read(agent, world, job, kind).status_code == 200
    assert read(agent, world, job, "variable", "Region").status_code == 200  # a plain one: not recorded

    label = f"job {str(job.pk)[:8]} on worker web-01"
    recorded = list(
        AuditEvent.objects.filter(action__endswith=".read")
        .order_by("created_at")
        .values_list("action", "target_name", "actor_name", "source_ip", "details")
    )
    details = {"job": str(job.pk), "worker": "web-01"}
    assert recorded == [
        ("variable.read", "DbPassword", label, "198.51.100.10", details),
        ("credential.read", "Admin", label, "198.51.100.10", details),
        ("connection.read", "OrdersDb", label, "198.51.100.10", details),
        ("certificate.read", "WebCert", label, "198.51.100.10", details),
    ]
    assert [s for s in SECRETS if s in audit_text()] == []
    assert [s for s in SECRETS if s in logged.text] == []


@pytest.mark.django_db
def test_a_certificate_that_is_not_exportable_is_409_and_not_recorded(agent, world):
    job = world.held()
    before = state()

    assert_error(read(agent, world, job, "certificate", "PublicCert"), 409, "not_exportable")

    assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_missing_name_is_404_and_another_accounts_asset_is_as_missing(agent, world, kind, logged):
    from automation.services.variables import create_variable

    create_variable(account=world.other, name="TheirsOnly", value=OTHER_SECRET, encrypted=True, actor=SYSTEM)
    job = world.held()
    before = state()

    for name in ("Nothing", "TheirsOnly"):
        body = assert_error(read(agent, world, job, kind, name), 404, "asset_not_found")
        assert body["detail"] == f"There is no {kind} named '{name}' in {world.account.name}."

    assert state() == before
    assert OTHER_SECRET not in logged.text


# ---- who may -----------------------------------------------------------------------------------------------


def every_operation(client, world, job, **options) -> list:
    """Every job-side operation but the wait on a child, whose async view reads only what is committed: the
    transactional test below asks that one too (every_operation_and_the_wait)."""
    answers = [read(client, world, job, kind, **options) for kind in KINDS]
    answers.append(send(client, world, job, "put", "variables/Region", {"value": "changed"}, **options))
    body = {"runbook": "child", "parameters": {"who": "x"}}
    answers.append(send(client, world, job, "post", "children", body, **options))
    return answers


def every_operation_and_the_wait(client, world, job, child, **options) -> list:
    return [*every_operation(client, world, job, **options), get(client, world, job, f"children/{child.pk}", **options)]


def all_refused(answers, status: int, code: str) -> None:
    for response in answers:
        assert_error(response, status, code)


@pytest.mark.django_db
def test_the_wrong_lease_is_409_lease_lost_and_changes_nothing(agent, world):
    job = world.held()
    before = state()

    all_refused(every_operation(agent, world, job, lease=str(uuid.uuid4())), 409, "lease_lost")

    assert state() == before


@pytest.mark.django_db
def test_another_worker_of_the_same_or_another_group_gets_nothing_even_with_the_lease(agent, world):
    job = world.held()
    before = state()

    all_refused(every_operation(agent, world, job, worker="web-02"), 409, "lease_lost")
    all_refused(every_operation(agent, world, job, worker="db-01"), 409, "lease_lost")
    # Another account's worker: refused at the door under this account's URL, lease_lost under its own.
    all_refused(every_operation(agent, world, job, worker="b-01"), 401, "unauthorized")
    all_refused(every_operation(agent, world, job, worker="b-01", account=world.other), 409, "lease_lost")

    assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["Completed", "Failed", "Stopped"])
def test_a_job_that_ended_has_no_access_left(agent, world, status):
    job = world.running()
    world.finish(job, status=status)
    before = state()

    all_refused(every_operation(agent, world, job), 409, "lease_lost")

    assert state() == before


@pytest.mark.django_db
def test_a_job_taken_back_is_refused_to_its_old_worker_and_answered_to_its_new_one(agent, world):
    job = world.held()
    release_worker(worker=world.workers["web-01"])
    (again,) = job_services.claim_jobs(worker=world.workers["web-02"], limit=1)
    before = state()

    all_refused(every_operation(agent, world, job), 409, "lease_lost")

    assert state() == before
    assert read(agent, world, again, "credential", worker="web-02").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_wait_on_a_child_is_refused_as_everything_else_once_access_is_gone(agent, world):
    parent = world.held()
    child = job_services.start_child_job(
        parent=parent, runbook_name="child", parameters={"who": "x"}, worker=world.workers["web-01"]
    )
    assert get(agent, world, parent, f"children/{child.pk}").status_code == 200
    before = state()

    all_refused(every_operation_and_the_wait(agent, world, parent, child, lease=str(uuid.uuid4())), 409, "lease_lost")
    all_refused(every_operation_and_the_wait(agent, world, parent, child, worker="web-02"), 409, "lease_lost")
    all_refused(every_operation_and_the_wait(agent, world, parent, child, worker="b-01"), 401, "unauthorized")
    for response in every_operation_and_the_wait(agent, world, parent, child, lease=False):
        assert assert_error(response, 400, "invalid")["field"] == "X-Job-Lease"
    assert state() == before

    release_worker(worker=world.workers["web-01"])
    before = state()
    all_refused(every_operation_and_the_wait(agent, world, parent, child), 409, "lease_lost")
    assert state() == before


@pytest.mark.django_db
def test_a_stopping_job_still_reads_its_runbook_still_runs(agent, world):
    job = job_services.request_stop(job=world.running(), actor=SYSTEM)
    assert job.status == JobStatus.STOPPING

    assert read(agent, world, job, "credential").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("lease", [False, "", "not-a-uuid"])
def test_a_missing_or_malformed_lease_header_is_400_naming_it(agent, world, lease):
    job = world.held()
    before = state()

    for response in every_operation(agent, world, job, lease=lease):
        body = assert_error(response, 400, "invalid")
        assert body["field"] == "X-Job-Lease", body

    assert state() == before


@pytest.mark.django_db
def test_no_credential_or_a_wrong_one_is_401(agent, world):
    job = world.held()
    for token in (None, "nonsense"):
        response = agent.get(
            url(world, job, "credentials/Admin"), headers={**bearer(token), "X-Job-Lease": str(job.lease_id)}
        )
        assert_error(response, 401, "unauthorized")


# ---- setting a variable ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_job_sets_a_variable_that_the_next_job_reads(agent, world):
    job = world.held()

    response = send(agent, world, job, "put", "variables/Region", {"value": {"zone": 3}})

    assert response.status_code == 200, response.content
    assert response.json() == {"name": "Region", "encrypted": False}
    world.finish(job)
    assert read(agent, world, world.held(), "variable", "Region").json()["value"] == {"zone": 3}
    event = AuditEvent.objects.get(action="variable.change")
    assert (event.target_name, event.actor_name) == ("Region", f"job {str(job.pk)[:8]} on worker web-01")


@pytest.mark.django_db
def test_an_encrypted_variable_set_by_a_job_stays_encrypted_and_its_value_is_logged_nowhere(agent, world, logged):
    job = world.held()
    new = "Set-By-Job-Secret-5150"

    response = send(agent, world, job, "put", "variables/DbPassword", {"value": new})

    assert response.json() == {"name": "DbPassword", "encrypted": True}
    variable = Variable.objects.select_related("account").get(account=world.account, name="DbPassword")
    assert variable.value is None and read_variable_value(variable) == new
    assert new not in audit_text() and new not in logged.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code", "names"),
    [
        ({}, "invalid", "value"),
        ({"valu": 1}, "invalid", "value"),
        ([1], "invalid", "non_field_errors"),
        ('{"value": NaN}', "parse_error", ""),
        ('{"value": 1, "value": 2}', "parse_error", ""),
        ({"value": "x" * 1_048_577}, "invalid", "value"),
    ],
)
def test_a_bad_set_is_4xx_naming_what_is_wrong_and_writes_nothing(agent, world, body, code, names):
    job = world.held()
    before = state()

    refused = assert_error(send(agent, world, job, "put", "variables/Region", body), 400, code)

    assert names in (refused.get("field") or "") + json.dumps(refused.get("fields", {})) + refused["detail"]
    assert state() == before


@pytest.mark.django_db
def test_a_job_cannot_create_a_variable(agent, world):
    job = world.held()
    before = state()

    assert_error(send(agent, world, job, "put", "variables/Brand-new", {"value": 1}), 404, "asset_not_found")

    assert state() == before


# ---- child jobs ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_job_starts_a_child_that_records_its_parent(agent, world):
    parent = world.held()

    response = send(agent, world, parent, "post", "children", {"runbook": "child", "parameters": {"who": "x"}})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "Queued"
    child = Job.objects.get(pk=body["id"])
    assert (child.parent_id, child.group_name, child.runbook_name) == (parent.pk, "lab", "child")
    answer = get(agent, world, parent, f"children/{child.pk}")
    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "Queued" and answer.json()["output"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "runbook"),
        ({"runbook": "nothing"}, "runbook"),
        ({"runbook": "draft-only"}, "runbook"),
        ({"runbook": "child"}, "who"),
        ({"runbook": "child", "parameters": {"who": "x"}, "run_on": "nowhere"}, "run_on"),
        ({"runbook": "child", "parameters": "who=x"}, "parameters"),
    ],
)
def test_a_bad_child_is_400_naming_its_field_and_nothing_is_written(agent, world, body, field):
    parent = world.held()
    before = state()

    refused = assert_error(send(agent, world, parent, "post", "children", body), 400, "invalid")

    assert refused.get("field") == field or field in refused.get("fields", {}), refused
    assert state() == before


@pytest.mark.django_db(transaction=True)
def test_a_child_of_another_parent_is_404(agent, world):
    parent, other = world.held(), world.held()
    child = Job.objects.get(
        pk=send(agent, world, parent, "post", "children", {"runbook": "child", "parameters": {"who": "x"}}).json()["id"]
    )

    assert_error(get(agent, world, other, f"children/{child.pk}"), 404, "no_such_job")
    assert_error(get(agent, world, parent, f"children/{other.pk}"), 404, "no_such_job")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("wait", ["-1", "61", "soon", "1.5", ""])
def test_a_bad_wait_is_400_naming_it(agent, world, wait):
    parent = world.held()
    response = agent.get(
        url(world, parent, f"children/{uuid.uuid4()}") + f"?wait={wait}", headers=headers(world, parent)
    )
    body = assert_error(response, 400, "invalid")
    assert "wait" in body["fields"]


def wait_for_child(client, world, parent, child_id, wait: int):
    result = {}

    def run():
        try:
            result["response"] = get(client, world, parent, f"children/{child_id}?wait={wait}")
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


@pytest.mark.django_db(transaction=True)
def test_waiting_on_a_child_answers_when_it_ends_with_its_output(agent, world, monkeypatch):
    # No fallback poll within the wait: only the status push can end it before the 60 s.
    monkeypatch.setattr(agent_assets, "FALLBACK_POLL_SECONDS", 120.0)
    parent = world.running()
    started = send(agent, world, parent, "post", "children", {"runbook": "child", "parameters": {"who": "x"}})
    child_id = started.json()["id"]
    (child,) = job_services.claim_jobs(worker=world.workers["web-02"], limit=1)
    assert str(child.pk) == child_id
    thread, result = wait_for_child(agent, world, parent, child_id, 60)

    world.finish(child, name="web-02", output=["one", "two"])
    thread.join(timeout=90)

    assert not thread.is_alive()
    response = result["response"]
    assert response.status_code == 200, response.content
    assert response.json() == {"id": child_id, "status": "Completed", "status_reason": "", "output": ["one", "two"]}


@pytest.mark.django_db(transaction=True)
def test_waiting_on_a_child_that_does_not_end_answers_its_current_state_after_the_wait(agent, world):
    parent = world.running()
    child_id = send(agent, world, parent, "post", "children", {"runbook": "child", "parameters": {"who": "x"}}).json()[
        "id"
    ]

    response = get(agent, world, parent, f"children/{child_id}?wait=1")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "Queued"


@pytest.mark.django_db(transaction=True)
def test_waiting_on_a_child_that_already_ended_answers_at_once(agent, world, monkeypatch):
    monkeypatch.setattr(agent_assets, "FALLBACK_POLL_SECONDS", 120.0)
    parent = world.running()
    child_id = send(agent, world, parent, "post", "children", {"runbook": "child", "parameters": {"who": "x"}}).json()[
        "id"
    ]
    (child,) = job_services.claim_jobs(worker=world.workers["web-02"], limit=1)
    world.finish(child, name="web-02", status="Failed", output=["partial"])

    response = get(agent, world, parent, f"children/{child_id}?wait=60")

    assert response.json()["status"] == "Failed" and response.json()["output"] == ["partial"]


# ---- nothing secret leaks ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_secret_is_in_any_audit_entry_or_log_line_after_every_operation_and_refusal(agent, world, logged):
    job = world.held()
    every_operation(agent, world, job)
    every_operation(agent, world, job, lease=str(uuid.uuid4()))
    every_operation(agent, world, job, worker="web-02")
    read(agent, world, job, "variable", "Limits")

    assert [s for s in SECRETS if s in audit_text()] == []
    assert [s for s in SECRETS if s in logged.text] == []
    assert [s for s in SECRETS if s in repr(state(ignoring=()))] == []

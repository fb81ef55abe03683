"""Hybrid worker group settings (Run as) through the service layer: who may set it, what it refuses, what
an agent is told with each job, the credential it holds on to, and the failed job's explanation."""

import pytest

from automation.models import AuditEvent, HybridWorkerGroup, JobStatus
from automation.queries.waiting import annotate_waiting_reasons, status_reason
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.credentials import create_credential, delete_credential
from automation.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from automation.services.groups import set_group_run_as
from tests.support.builders import make_group, make_runbook, make_worker, start
from tests.support.state import state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

PASSWORD = "deploy-password-never-sent"


def owner(people) -> Actor:
    return Actor(user=people.owner)


@pytest.fixture
def lab(people):
    worker = make_worker(people.account)
    create_credential(account=people.account, name="Deploy", username="deploy", password=PASSWORD, actor=owner(people))
    create_credential(
        account=people.other_account, name="Theirs", username="theirs", password="x" * 12, actor=Actor.for_system()
    )
    return worker


def group(people) -> HybridWorkerGroup:
    return HybridWorkerGroup.objects.select_related("run_as_credential").get(account=people.account, name="lab")


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_owners_and_operators_set_the_run_as_credential_and_back_to_default_with_an_audit_entry(people, lab, role):
    actor = Actor(user=people.by_role[role])
    set_group_run_as(account=people.account, group_name="lab", credential_name="deploy", actor=actor)
    assert group(people).run_as_credential.name == "Deploy", "found whatever the case, as every asset name"
    set_group_run_as(account=people.account, group_name="lab", credential_name=None, actor=actor)
    assert group(people).run_as_credential is None
    events = list(AuditEvent.objects.filter(action="group.run_as").order_by("created_at"))
    assert [(e.target_name, e.details, e.actor_name) for e in events] == [
        ("lab", {"runs_jobs_as": "credential Deploy"}, people.by_role[role].username),
        ("lab", {"runs_jobs_as": "the agent's default"}, people.by_role[role].username),
    ]


def test_setting_the_same_run_as_again_records_nothing_new(people, lab):
    set_group_run_as(account=people.account, group_name="lab", credential_name="Deploy", actor=owner(people))
    before = state()
    set_group_run_as(account=people.account, group_name="lab", credential_name="Deploy", actor=owner(people))
    assert state() == before


@pytest.mark.parametrize(("role", "error"), [("reader", PermissionDenied), ("stranger", NotFound)])
def test_readers_and_strangers_cannot_set_run_as(people, lab, role, error):
    before = state()
    with pytest.raises(error):
        set_group_run_as(
            account=people.account, group_name="lab", credential_name="Deploy", actor=Actor(user=people.by_role[role])
        )
    assert state() == before


@pytest.mark.parametrize(
    "name", ["Nope", "Theirs", "", "  ", 5, True, ["Deploy"], {"name": "Deploy"}, "a\x00b", "x" * 300]
)
def test_a_run_as_that_names_no_credential_of_the_account_is_refused_naming_the_field(people, lab, name):
    before = state()
    with pytest.raises(InvalidInput) as refused:
        set_group_run_as(account=people.account, group_name="lab", credential_name=name, actor=owner(people))
    assert refused.value.field == "run_as_credential"
    assert state() == before


def test_run_as_for_an_unknown_group_is_not_found(people, lab):
    before = state()
    with pytest.raises(NotFound):
        set_group_run_as(account=people.account, group_name="nope", credential_name="Deploy", actor=owner(people))
    assert state() == before


def test_a_credential_a_group_runs_as_cannot_be_deleted_until_the_group_lets_go(people, lab):
    set_group_run_as(account=people.account, group_name="lab", credential_name="Deploy", actor=owner(people))
    before = state()
    with pytest.raises(Conflict) as refused:
        delete_credential(account=people.account, name="Deploy", actor=owner(people))
    assert refused.value.code == "credential_in_use"
    assert "lab" in refused.value.detail and "Default" in refused.value.detail
    assert state() == before
    set_group_run_as(account=people.account, group_name="lab", credential_name=None, actor=owner(people))
    delete_credential(account=people.account, name="Deploy", actor=owner(people))


def test_deleting_an_account_takes_a_group_and_the_credential_it_runs_as_together(people, lab):
    # Without workers (they hold on to their group): what an account deletion removes at once.
    make_group(people.other_account, "empty")
    set_group_run_as(
        account=people.other_account, group_name="empty", credential_name="Theirs", actor=Actor.for_system()
    )
    people.other_account.delete()
    assert not HybridWorkerGroup.objects.filter(name="empty").exists()


def test_a_job_tells_its_agent_the_user_name_to_run_as_and_never_the_password(people, lab):
    make_runbook(people.account)
    start(people.account)
    (default,) = job_services.claim_jobs(worker=lab)
    assert job_services.job_for_agent(default)["run_as"] is None
    job_services.finish_job(worker=lab, job_id=default.pk, lease=default.lease_id, status=JobStatus.COMPLETED)

    set_group_run_as(account=people.account, group_name="lab", credential_name="Deploy", actor=owner(people))
    start(people.account)
    (custom,) = job_services.claim_jobs(worker=lab)
    payload = job_services.job_for_agent(custom)
    assert payload["run_as"] == "deploy"
    assert PASSWORD not in repr(payload)


def test_the_payload_of_claimed_jobs_costs_no_query_for_run_as(people, lab, django_assert_num_queries):
    set_group_run_as(account=people.account, group_name="lab", credential_name="Deploy", actor=owner(people))
    make_runbook(people.account)
    start(people.account)
    start(people.account)
    lab.capacity = 2
    claimed = job_services.claim_jobs(worker=lab, limit=2)
    with django_assert_num_queries(0):
        assert [job_services.job_for_agent(job)["run_as"] for job in claimed] == ["deploy", "deploy"]


def test_a_job_its_worker_would_not_run_as_the_groups_user_is_explained_with_both_fixes(people, lab):
    make_runbook(people.account)
    job = start(people.account)
    (claimed,) = job_services.claim_jobs(worker=lab)
    agent_said = "Run as: worker web-01 may not run jobs as 'deploy': start its agent with --allow-run-as deploy"
    job_services.finish_job(
        worker=lab, job_id=claimed.pk, lease=claimed.lease_id, status=JobStatus.FAILED, reason=agent_said
    )
    job.refresh_from_db()
    annotate_waiting_reasons([job])
    assert status_reason(job) == (
        "Failed before it started: worker web-01 may not run jobs as 'deploy': start its agent with "
        "--allow-run-as deploy. Or change the Run as of hybrid worker group lab (Hybrid worker group settings) "
        "to Default, or to a credential whose user that worker allows."
    )


def test_other_failed_jobs_keep_their_own_reason(people, lab):
    make_runbook(people.account)
    job = start(people.account)
    (claimed,) = job_services.claim_jobs(worker=lab)
    job_services.finish_job(
        worker=lab, job_id=claimed.pk, lease=claimed.lease_id, status=JobStatus.FAILED, exit_code=1, reason="boom"
    )
    job.refresh_from_db()
    annotate_waiting_reasons([job])
    assert job.waiting_reason is None and status_reason(job) == "boom"

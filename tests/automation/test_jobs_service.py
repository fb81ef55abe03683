"""Jobs through the service layer: start (parameters checked against the published declaration),
claim within capacity and group, stream records once, end once, and stop."""

import hashlib
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from automation.models import AuditEvent, HybridWorkerGroup, Job, JobStatus, JobStream
from automation.services import jobs as svc
from automation.services.actor import Actor
from automation.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from automation.services.groups import create_group
from automation.services.runbooks import MAX_TIMEOUT_SECONDS, create_runbook, publish_runbook, update_draft
from automation.services.workers import register_worker
from tests.support.builders import make_runbook
from tests.support.state import state

pytestmark = pytest.mark.django_db

SYSTEM = Actor.for_system()
CONTENT = "import sys\nprint(sys.argv)\n"
DECLARED = [
    {"name": "service", "type": "string", "required": True},
    {"name": "count", "type": "int", "default": 3},
    {"name": "force", "type": "bool", "default": False},
    {"name": "extra", "type": "json"},
]


def as_(user) -> Actor:
    return Actor(user=user, ip="198.51.100.7")


def published(account, name="hello", *, parameters=DECLARED, content=CONTENT):
    return make_runbook(account, name, runbook_type="python3", content=content, parameters=parameters)


def worker(account, group="lab", name="web-01", capacity=2):
    return register_worker(
        account=account,
        group_name=group,
        machine_id=f"machine-{account.name}-{group}-{name}".replace(" ", "-"),
        name=name,
        facts={"capacity": capacity},
    ).worker


def start(p, *, runbook="hello", group="lab", parameters=None, actor=SYSTEM, **kwargs) -> Job:
    return svc.start_job(
        account=p.account,
        runbook_name=runbook,
        group_name=group,
        parameters={"service": "web"} if parameters is None else parameters,
        actor=actor,
        **kwargs,
    )


def record(seq, text=None, stream="output") -> svc.Record:
    return svc.Record(seq=seq, stream=stream, text=text or f"line {seq}", time=timezone.now())


@pytest.fixture
def lab(people):
    """Account A with runbook 'hello' published and group 'lab' with one worker of capacity 2."""
    published(people.account)
    return worker(people.account)


# ---- start ---------------------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ["owner", "operator"])
def test_starting_a_runbook_queues_a_job_with_its_parameters_and_defaults(people, lab, role):
    user = people.by_role[role]

    job = start(people, parameters={"service": "web", "extra": {"a": [1]}}, actor=as_(user), timeout_seconds=60)

    job = Job.objects.get(pk=job.pk)
    assert job.status == JobStatus.QUEUED
    assert job.parameters == {"service": "web", "count": 3, "force": False, "extra": {"a": [1]}}
    assert (job.runbook.name, job.runbook_name, job.version.number, job.version_number) == ("hello", "hello", 1, 1)
    assert (job.group, job.group_name) == (lab.group, "lab")
    assert (job.worker, job.worker_name, job.lease_id) == (None, "", None)
    assert job.timeout_seconds == 60
    assert job.started_by == user.username
    assert job.queued_at is not None and job.ended_at is None
    event = AuditEvent.objects.get(action="job.start")
    assert event.details == {"runbook": "hello", "version": 1, "run_on": "lab"}


def test_an_optional_parameter_without_a_default_is_left_out(people, lab):
    assert start(people, parameters={"service": "db"}).parameters == {"service": "db", "count": 3, "force": False}


def test_a_job_runs_the_latest_published_version_not_the_draft(people, lab):
    runbook = published(people.account, "versions", parameters=[{"name": "a", "type": "int"}])
    update_draft(runbook=runbook, content="print(2)", parameters=[{"name": "b", "type": "string"}], actor=SYSTEM)
    publish_runbook(runbook=runbook, actor=SYSTEM)
    update_draft(runbook=runbook, parameters=[{"name": "c", "type": "bool"}], actor=SYSTEM)

    job = start(people, runbook="versions", parameters={"b": "yes"})

    assert (job.version_number, job.version.content, job.parameters) == (2, "print(2)", {"b": "yes"})
    # The draft declares "c", but the published version does not.
    with pytest.raises(InvalidInput) as error:
        start(people, runbook="versions", parameters={"c": True})
    assert error.value.field == "c"


@pytest.mark.parametrize(
    ("parameters", "field", "words"),
    [
        ({"service": "web", "nope": 1}, "nope", "Unknown parameter 'nope'"),
        ({"Service": "web"}, "Service", "Unknown parameter 'Service'"),
        ({}, "service", "Parameter 'service' is required"),
        ({"count": 1}, "service", "Parameter 'service' is required"),
        ({"service": 5}, "service", "'service' must be a string"),
        ({"service": None}, "service", "'service' must be a string"),
        ({"service": ["web"]}, "service", "'service' must be a string"),
        ({"service": "web", "count": "5"}, "count", "'count' must be a whole number"),
        ({"service": "web", "count": 1.5}, "count", "'count' must be a whole number"),
        ({"service": "web", "count": True}, "count", "'count' must be a whole number"),
        ({"service": "web", "count": None}, "count", "'count' must be a whole number"),
        ({"service": "web", "force": "true"}, "force", "'force' must be true or false"),
        ({"service": "web", "force": 1}, "force", "'force' must be true or false"),
        ({"service": "web", "force": None}, "force", "'force' must be true or false"),
        (["service"], "parameters", "parameters is an object"),
        ("service=web", "parameters", "parameters is an object"),
    ],
)
def test_wrong_parameters_are_refused_naming_the_field_and_nothing_is_written(people, lab, parameters, field, words):
    before = state()

    with pytest.raises(InvalidInput) as error:
        start(people, parameters=parameters)

    assert error.value.field == field
    assert words in error.value.detail
    assert state() == before


@pytest.mark.parametrize("value", [{"a": 1}, [1, "two"], "text", 5, 1.5, True, None])
def test_a_json_parameter_takes_any_json_value(people, lab, value):
    assert start(people, parameters={"service": "web", "extra": value}).parameters["extra"] == value


@pytest.mark.sqlite
def test_values_from_a_form_are_parsed_from_text(people, lab):
    job = start(
        people,
        parameters={"service": " web ", "count": "42", "force": "true", "extra": '{"a": [1, 2], "b": null}'},
        from_text=True,
    )

    assert job.parameters == {"service": " web ", "count": 42, "force": True, "extra": {"a": [1, 2], "b": None}}


@pytest.mark.parametrize(
    ("text", "value"),
    [({"count": "-7"}, {"count": -7}), ({"count": " 8 "}, {"count": 8}), ({"force": "False"}, {"force": False})],
)
def test_text_values_are_parsed_leniently_where_unambiguous(people, lab, text, value):
    job = start(people, parameters={"service": "web", **text}, from_text=True)

    assert job.parameters == {"service": "web", "count": 3, "force": False, **value}


def test_an_empty_form_field_means_the_default_except_for_strings(people, lab):
    job = start(people, parameters={"service": "", "count": "", "force": "", "extra": ""}, from_text=True)

    assert job.parameters == {"service": "", "count": 3, "force": False}


@pytest.mark.parametrize(
    ("parameters", "field", "words"),
    [
        ({"count": "4.2"}, "count", "must be a whole number"),
        ({"count": "forty"}, "count", "must be a whole number"),
        ({"count": "9" * 19}, "count", "must be a whole number"),  # past 64 bits
        ({"count": "1" * 21}, "count", "must be a whole number"),
        ({"force": "yes"}, "force", "must be true or false"),
        ({"force": "1"}, "force", "must be true or false"),
        ({"extra": "{not json"}, "extra", "must be valid JSON"),
    ],
)
def test_text_that_does_not_parse_is_refused_naming_the_field(people, lab, parameters, field, words):
    before = state()

    with pytest.raises(InvalidInput) as error:
        start(people, parameters={"service": "web", **parameters}, from_text=True)

    assert (error.value.field, words in error.value.detail) == (field, True)
    assert state() == before


def test_a_required_value_left_empty_in_a_form_is_missing(people):
    published(people.account, "needs", parameters=[{"name": "n", "type": "int", "required": True}])
    worker(people.account)

    with pytest.raises(InvalidInput) as error:
        start(people, runbook="needs", parameters={"n": ""}, from_text=True)

    assert (error.value.field, error.value.detail) == ("n", "Parameter 'n' is required.")


def test_a_runbook_without_a_published_version_cannot_start(people, lab):
    create_runbook(account=people.account, name="draft only", runbook_type="bash", content="echo", actor=SYSTEM)
    before = state()

    with pytest.raises(InvalidInput) as error:
        start(people, runbook="draft only", parameters={})

    assert error.value.field == "runbook"
    assert "no published version" in error.value.detail
    assert state() == before


@pytest.mark.parametrize("name", ["nope", "HELLO", "", None, 5])
def test_an_unknown_runbook_cannot_start(people, lab, name):
    published(people.other_account, "nope")
    before = state()

    with pytest.raises(InvalidInput) as error:
        start(people, runbook=name)

    assert error.value.field == "runbook"
    assert state() == before


@pytest.mark.parametrize("group", ["nope", "LAB", "b-lab", "", None, ["lab"]])
def test_an_unknown_group_cannot_run_a_job(people, lab, group):
    worker(people.other_account, "b-lab", "b-01")
    before = state()

    with pytest.raises(InvalidInput) as error:
        start(people, group=group)

    assert error.value.field == "run_on"
    assert state() == before


def test_a_group_being_deleted_cannot_run_a_job(people, lab):
    create_group(account=people.account, name="leaving", actor=SYSTEM)
    HybridWorkerGroup.objects.filter(name="leaving").update(deleting_since=timezone.now())
    before = state()

    with pytest.raises(InvalidInput) as error:
        start(people, group="leaving")

    assert error.value.field == "run_on"
    assert "being deleted" in error.value.detail
    assert state() == before


def test_an_empty_group_may_be_given_a_job_to_wait_in(people, lab):
    create_group(account=people.account, name="empty", actor=SYSTEM)

    assert start(people, group="empty").status == JobStatus.QUEUED


@pytest.mark.parametrize(
    ("timeout", "from_text", "stored"),
    [(None, False, None), ("", True, None), (1, False, 1), (MAX_TIMEOUT_SECONDS, False, 604800), ("60", True, 60)],
)
def test_a_timeout_within_bounds_is_kept(people, lab, timeout, from_text, stored):
    assert start(people, timeout_seconds=timeout, from_text=from_text).timeout_seconds == stored


@pytest.mark.parametrize(
    ("timeout", "from_text"),
    [
        *[(0, False), (-1, False), (MAX_TIMEOUT_SECONDS + 1, False), ("60", False), (True, False), (1.5, False)],
        *[("0", True), ("-5", True), ("1.5", True), ("soon", True), (str(MAX_TIMEOUT_SECONDS + 1), True)],
    ],
)
def test_a_timeout_out_of_bounds_is_refused(people, lab, timeout, from_text):
    before = state()

    with pytest.raises(InvalidInput) as error:
        start(people, timeout_seconds=timeout, from_text=from_text)

    assert error.value.field == "timeout_seconds"
    assert state() == before


def test_a_reader_may_not_start_a_job_and_a_stranger_finds_no_account(people, lab):
    before = state()

    with pytest.raises(PermissionDenied):
        start(people, actor=as_(people.reader))
    with pytest.raises(NotFound):
        start(people, actor=as_(people.stranger))

    assert state() == before


# ---- claim ---------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_worker_never_holds_more_jobs_than_its_capacity(people, lab):
    jobs = [start(people) for _ in range(5)]

    first = svc.claim_jobs(worker=lab, limit=10)
    assert {j.pk for j in first} == {j.pk for j in jobs[:2]}  # the oldest first
    assert svc.claim_jobs(worker=lab, limit=10) == []
    assert svc.held_job_count(lab) == 2

    held = first[0]
    svc.finish_job(worker=lab, job_id=held.pk, lease=held.lease_id, status=JobStatus.COMPLETED, exit_code=0)
    again = svc.claim_jobs(worker=lab, limit=10)

    assert [j.pk for j in again] == [jobs[2].pk]
    assert svc.claim_jobs(worker=lab, limit=10) == []
    assert Job.objects.filter(status=JobStatus.QUEUED).count() == 2


def test_a_claim_takes_no_more_than_its_limit(people):
    published(people.account)
    big = worker(people.account, capacity=8)
    for _ in range(4):
        start(people)

    assert len(svc.claim_jobs(worker=big, limit=1)) == 1
    assert len(svc.claim_jobs(worker=big, limit=2)) == 2
    assert len(svc.claim_jobs(worker=big)) == 1


def test_a_claim_marks_the_jobs_activating_under_one_new_lease(people, lab):
    a, b = start(people), start(people)

    claimed = svc.claim_jobs(worker=lab, limit=2)

    stored = list(Job.objects.filter(pk__in=[a.pk, b.pk]))
    assert {j.status for j in stored} == {JobStatus.ACTIVATING}
    assert {j.worker_id for j in stored} == {lab.pk}
    assert {j.worker_name for j in stored} == {"web-01"}
    assert {j.lease_id for j in stored} == {claimed[0].lease_id} != {None}
    assert all(j.claimed_at is not None and j.started_at is None for j in stored)


def test_a_worker_claims_only_from_its_own_group(people, lab):
    other = worker(people.account, "other lab", "db-01", capacity=4)
    foreign = worker(people.other_account, "lab", "b-01", capacity=4)
    mine = start(people)
    theirs = start(people, group="other lab")

    assert [j.pk for j in svc.claim_jobs(worker=foreign, limit=4)] == []
    assert [j.pk for j in svc.claim_jobs(worker=other, limit=4)] == [theirs.pk]
    assert [j.pk for j in svc.claim_jobs(worker=lab, limit=4)] == [mine.pk]


def test_jobs_that_are_not_queued_are_not_claimed(people, lab):
    stopped = start(people)
    svc.request_stop(job=stopped, actor=SYSTEM)
    Job.objects.filter(pk=start(people).pk).update(status=JobStatus.NEW)

    assert svc.claim_jobs(worker=lab, limit=2) == []


def test_a_jobs_payload_carries_the_content_and_its_sha256(people, lab):
    start(people, parameters={"service": "web", "extra": [1]}, timeout_seconds=30)

    job = svc.claim_jobs(worker=lab)[0]
    payload = svc.job_for_agent(job)

    assert payload == {
        "id": str(job.pk),
        "lease": str(job.lease_id),
        "runbook": "hello",
        "version": 1,
        "runbook_type": "python3",
        "content": CONTENT,
        "sha256": hashlib.sha256(CONTENT.encode()).hexdigest(),
        "parameters": {"service": "web", "count": 3, "force": False, "extra": [1]},
        "declared": job.version.parameters,
        "timeout_seconds": 30,
        "attempt": 1,
        "webhook_data": None,  # no webhook started it
        "run_as": None,
    }


# ---- records and the end ---------------------------------------------------------------------------


@pytest.fixture
def held(people, lab) -> Job:
    """A job of 'lab' claimed by its worker (Activating)."""
    start(people)
    return svc.claim_jobs(worker=lab)[0]


def rows(job) -> list[tuple]:
    return list(JobStream.objects.filter(job=job).order_by("seq").values_list("seq", "stream", "text"))


@pytest.mark.sqlite
def test_the_first_batch_of_records_marks_the_job_running(people, lab, held):
    job = svc.append_records(
        worker=lab, job_id=held.pk, lease=held.lease_id, records=[record(0), record(1, "oops", "error")]
    )

    assert job.status == JobStatus.RUNNING
    stored = Job.objects.get(pk=held.pk)
    assert stored.status == JobStatus.RUNNING and stored.started_at is not None
    assert rows(held) == [(0, "output", "line 0"), (1, "error", "oops")]


def test_a_batch_sent_again_adds_nothing_twice(people, lab, held):
    batch = [record(0), record(1), record(2, "warn", "warning")]

    svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=batch)
    started = Job.objects.get(pk=held.pk).started_at
    svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=batch)
    # An overlapping retry: the records already stored keep their first text.
    svc.append_records(
        worker=lab, job_id=held.pk, lease=held.lease_id, records=[record(2, "changed"), record(3, "new")]
    )

    assert rows(held) == [
        (0, "output", "line 0"),
        (1, "output", "line 1"),
        (2, "warning", "warn"),
        (3, "output", "new"),
    ]
    assert Job.objects.get(pk=held.pk).started_at == started


def test_an_empty_batch_also_marks_the_job_running(people, lab, held):
    assert svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=[]).status == JobStatus.RUNNING
    # Again: still Running, from the first batch's time.
    assert svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=[]).status == JobStatus.RUNNING


def test_records_under_a_stale_lease_are_refused_and_nothing_is_written(people, lab, held):
    before = state()

    with pytest.raises(Conflict) as error:
        svc.append_records(worker=lab, job_id=held.pk, lease=uuid.uuid4(), records=[record(0)])

    assert error.value.code == "stale_lease"
    assert state() == before


def test_a_worker_cannot_report_on_a_job_it_does_not_hold(people, lab, held):
    neighbour = worker(people.account, "lab", "web-02")
    stranger = worker(people.other_account, "lab", "b-01")
    before = state()

    for other in (neighbour, stranger):
        with pytest.raises(NotFound) as error:
            svc.append_records(worker=other, job_id=held.pk, lease=held.lease_id, records=[record(0)])
        assert error.value.code == "no_such_job"
        with pytest.raises(NotFound):
            svc.finish_job(worker=other, job_id=held.pk, lease=held.lease_id, status=JobStatus.COMPLETED)
        with pytest.raises(NotFound):
            svc.append_records(worker=other, job_id=held.pk, lease=held.lease_id, records=[])
    with pytest.raises(NotFound):
        svc.finish_job(worker=lab, job_id=uuid.uuid4(), lease=held.lease_id, status=JobStatus.COMPLETED)

    assert state() == before


@pytest.mark.sqlite
def test_a_job_ends_once_with_its_last_records(people, lab, held):
    svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=[record(0)])

    job = svc.finish_job(
        worker=lab,
        job_id=held.pk,
        lease=held.lease_id,
        status=JobStatus.FAILED,
        exit_code=3,
        reason="Traceback: boom",
        records=[record(1, "boom", "error")],
    )

    stored = Job.objects.get(pk=held.pk)
    assert (job.status, stored.status, stored.exit_code, stored.status_reason) == (
        "Failed",
        "Failed",
        3,
        "Traceback: boom",
    )
    assert stored.ended_at is not None and stored.started_at <= stored.ended_at
    assert rows(held) == [(0, "output", "line 0"), (1, "error", "boom")]
    assert svc.held_job_count(lab) == 0


def test_a_job_finished_before_any_record_gets_a_start_time(people, lab, held):
    svc.finish_job(worker=lab, job_id=held.pk, lease=held.lease_id, status=JobStatus.COMPLETED, exit_code=0)

    stored = Job.objects.get(pk=held.pk)
    assert stored.status == JobStatus.COMPLETED and stored.started_at == stored.ended_at


def at(moment, seq, text=None) -> svc.Record:
    """A record as an agent stamps it: with the agent's own clock."""
    return svc.Record(seq=seq, stream="output", text=text or f"line {seq}", time=moment)


def claimed_a_second_ago(job) -> Job:
    """The claim moved a second back, so the records stamped just after it are surely older than their batch."""
    Job.objects.filter(pk=job.pk).update(claimed_at=job.claimed_at - timedelta(seconds=1))
    job.refresh_from_db()
    return job


def times(job) -> list:
    return list(JobStream.objects.filter(job=job).order_by("seq").values_list("time", flat=True))


@pytest.mark.sqlite
def test_the_first_batch_starts_the_job_when_its_first_record_was_written_not_when_it_arrived(people, lab, held):
    # The agent sends its first batch a moment after the runbook started: its records are older than the batch.
    held = claimed_a_second_ago(held)
    first, second = held.claimed_at + timedelta(milliseconds=5), held.claimed_at + timedelta(milliseconds=9)

    svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=[at(first, 0), at(second, 1)])

    stored = Job.objects.get(pk=held.pk)
    assert times(held) == [first, second]
    assert stored.started_at == first


@pytest.mark.sqlite
def test_a_job_ended_by_its_first_report_started_at_its_first_record(people, lab, held):
    # A short job says everything in its end report.
    held = claimed_a_second_ago(held)
    first = held.claimed_at + timedelta(milliseconds=3)

    svc.finish_job(
        worker=lab,
        job_id=held.pk,
        lease=held.lease_id,
        status=JobStatus.COMPLETED,
        exit_code=0,
        records=[at(first, 0), at(first + timedelta(milliseconds=1), 1)],
    )

    stored = Job.objects.get(pk=held.pk)
    assert stored.started_at == first <= stored.ended_at
    assert min(times(held)) >= stored.started_at


@pytest.mark.sqlite
@pytest.mark.parametrize("skew", [timedelta(hours=-1), timedelta(hours=1)], ids=["agent-behind", "agent-ahead"])
def test_record_times_from_a_skewed_agent_clock_stay_between_the_start_and_their_arrival(people, lab, held, skew):
    """The agent's clock is its own: a record cannot have been written before its job was claimed (or, once
    the job runs, before it started), nor after it arrived. Inside those bounds the agent's times are kept,
    so the order of the lines and the gaps between them still show."""
    now = timezone.now()
    svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=[at(now + skew, 0)])
    later = timezone.now()
    svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=[at(later + skew, 1)])
    arrived = timezone.now()

    stored = Job.objects.get(pk=held.pk)
    first, second = times(held)
    assert held.claimed_at <= stored.started_at <= first <= second <= arrived
    job = svc.finish_job(worker=lab, job_id=held.pk, lease=held.lease_id, status=JobStatus.COMPLETED, exit_code=0)
    assert job.started_at <= first and second <= job.ended_at


def test_a_long_reason_is_cut_to_2000_characters(people, lab, held):
    svc.finish_job(worker=lab, job_id=held.pk, lease=held.lease_id, status=JobStatus.FAILED, reason="x" * 5000)

    assert Job.objects.get(pk=held.pk).status_reason == "x" * svc.REASON_CHARS


@pytest.mark.sqlite
@pytest.mark.parametrize("second", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED])
def test_a_finished_job_can_never_be_moved_again(people, lab, held, second):
    svc.finish_job(worker=lab, job_id=held.pk, lease=held.lease_id, status=JobStatus.COMPLETED, exit_code=0)
    before = state()

    with pytest.raises(Conflict) as error:
        svc.finish_job(worker=lab, job_id=held.pk, lease=held.lease_id, status=second, exit_code=9, records=[record(5)])
    assert error.value.code == "job_ended"
    with pytest.raises(Conflict) as error:
        svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=[record(6)])
    assert error.value.code == "job_ended"
    with pytest.raises(Conflict) as error:
        svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=[])
    assert error.value.code == "job_ended"
    with pytest.raises(Conflict) as error:
        svc.request_stop(job=held, actor=SYSTEM)
    assert error.value.code == "job_ended"

    assert state() == before
    assert Job.objects.get(pk=held.pk).status == JobStatus.COMPLETED


@pytest.mark.sqlite
def test_a_finish_under_a_stale_lease_changes_nothing(people, lab, held):
    svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=[record(0)])
    before = state()

    with pytest.raises(Conflict) as error:
        svc.finish_job(
            worker=lab,
            job_id=held.pk,
            lease=uuid.uuid4(),
            status=JobStatus.COMPLETED,
            exit_code=0,
            records=[record(1)],
        )

    assert error.value.code == "stale_lease"
    assert state() == before
    assert Job.objects.get(pk=held.pk).status == JobStatus.RUNNING


@pytest.mark.parametrize("status", ["Running", "Queued", "Stopping", "completed", "", None])
def test_a_job_ends_only_in_a_final_status(people, lab, held, status):
    before = state()

    with pytest.raises(InvalidInput) as error:
        svc.finish_job(worker=lab, job_id=held.pk, lease=held.lease_id, status=status)

    assert error.value.field == "status"
    assert state() == before


# ---- checking records ---------------------------------------------------------------------------------


def test_records_are_checked_into_their_fields():
    checked = svc.checked_records(
        [
            {"seq": 0, "stream": "output", "text": "hi", "time": "2026-01-02T03:04:05Z"},
            {"seq": 7, "stream": "progress", "text": ""},
        ]
    )

    assert [(r.seq, r.stream, r.text) for r in checked] == [(0, "output", "hi"), (7, "progress", "")]
    assert checked[0].time.isoformat() == "2026-01-02T03:04:05+00:00"
    assert checked[1].time is not None


@pytest.mark.parametrize(
    "moment",
    [
        "yesterday",
        "2026-13-01T00:00:00Z",
        "2026-02-30T10:00:00Z",
        "2026-01-02T03:04:05",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:00",
        "9999-12-31T00:00:00Z",
        "",
        5,
        None,
    ],
)
def test_a_record_time_that_is_not_an_instant_pages_can_show_is_refused(moment):
    with pytest.raises(InvalidInput) as error:
        svc.checked_records(
            [{"seq": 0, "stream": "output", "text": "hi"}, {"seq": 1, "stream": "output", "text": "hi", "time": moment}]
        )

    assert error.value.field == "records"
    assert "records[1].time" in error.value.detail


def test_a_record_without_a_time_takes_the_time_received():
    before = timezone.now()
    (checked,) = svc.checked_records([{"seq": 0, "stream": "output", "text": "hi"}])

    assert before <= checked.time <= timezone.now()


def test_record_text_keeps_every_character_a_database_can_hold():
    text = "tab\t, newline\n, bell\a, DEL\x7f, é, \u200f, \U0001f600"
    (checked,) = svc.checked_records([{"seq": 0, "stream": "output", "text": text}])

    assert checked.text == text


def test_the_largest_seq_is_stored(people, lab, held):
    svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=[record(2**31 - 1)])

    assert rows(held) == [(2**31 - 1, "output", f"line {2**31 - 1}")]


def test_a_record_longer_than_the_limit_is_cut():
    (checked,) = svc.checked_records([{"seq": 0, "stream": "output", "text": "x" * (svc.MAX_RECORD_CHARS + 10)}])

    assert len(checked.text) == svc.MAX_RECORD_CHARS


@pytest.mark.parametrize(
    "records",
    [
        {"seq": 0, "stream": "output", "text": "x"},
        "records",
        None,
        [["seq", 0]],
        [{"seq": -1, "stream": "output", "text": "x"}],
        [{"seq": 2**31, "stream": "output", "text": "x"}],
        [{"seq": "1", "stream": "output", "text": "x"}],
        [{"seq": 1.5, "stream": "output", "text": "x"}],
        [{"seq": True, "stream": "output", "text": "x"}],
        [{"stream": "output", "text": "x"}],
        [{"seq": 0, "stream": "stdout", "text": "x"}],
        [{"seq": 0, "stream": "Output", "text": "x"}],
        [{"seq": 0, "text": "x"}],
        [{"seq": 0, "stream": "output", "text": 5}],
        [{"seq": 0, "stream": "output", "text": None}],
        [{"seq": 0, "stream": "output"}],
        [{"seq": 0, "stream": "output", "text": "ok"}, {"seq": 1, "stream": "output", "text": ["bad"]}],
    ],
)
def test_a_bad_record_is_refused(records):
    with pytest.raises(InvalidInput) as error:
        svc.checked_records(records)

    assert error.value.field == "records"


# ---- stop ------------------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_stopping_a_queued_job_stops_it_at_once(people, lab):
    job = start(people)

    stopped = svc.request_stop(job=job, actor=as_(people.operator))

    stored = Job.objects.get(pk=job.pk)
    assert stopped.status == stored.status == JobStatus.STOPPED
    assert stored.ended_at is not None and stored.stop_requested_at is not None
    assert stored.status_reason == "Stopped before it started."
    assert stored.worker is None
    assert svc.claim_jobs(worker=lab) == []
    assert AuditEvent.objects.filter(action="job.stop", actor_name="oscar").count() == 1


@pytest.mark.sqlite
@pytest.mark.parametrize("running", [False, True])
def test_stopping_a_running_job_asks_its_worker(people, lab, held, running):
    if running:
        svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=[record(0)])
    assert svc.stop_requests(worker=lab) == []

    stopping = svc.request_stop(job=held, actor=as_(people.owner))

    assert stopping.status == Job.objects.get(pk=held.pk).status == JobStatus.STOPPING
    assert svc.stop_requests(worker=lab) == [str(held.pk)]
    assert svc.stop_requests(worker=worker(people.account, "lab", "web-02")) == []
    # The worker hears it on its next report too, and still counts the job against its capacity.
    answer = svc.append_records(worker=lab, job_id=held.pk, lease=held.lease_id, records=[record(1)])
    assert answer.status == JobStatus.STOPPING
    assert svc.held_job_count(lab) == 1
    # Asking again changes nothing.
    assert svc.request_stop(job=held, actor=SYSTEM).status == JobStatus.STOPPING

    svc.finish_job(worker=lab, job_id=held.pk, lease=held.lease_id, status=JobStatus.STOPPED, exit_code=-15)

    assert Job.objects.get(pk=held.pk).status == JobStatus.STOPPED
    assert svc.stop_requests(worker=lab) == []


@pytest.mark.parametrize("final", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED])
def test_a_finished_job_cannot_be_stopped(people, lab, held, final):
    svc.finish_job(worker=lab, job_id=held.pk, lease=held.lease_id, status=final)
    before = state()

    with pytest.raises(Conflict) as error:
        svc.request_stop(job=held, actor=SYSTEM)

    assert error.value.code == "job_ended"
    assert final in error.value.detail
    assert state() == before


def test_a_reader_may_not_stop_a_job_and_a_stranger_finds_no_account(people, lab, held):
    queued = start(people)
    before = state()

    for job in (queued, held):
        with pytest.raises(PermissionDenied):
            svc.request_stop(job=job, actor=as_(people.reader))
        with pytest.raises(NotFound):
            svc.request_stop(job=job, actor=as_(people.stranger))

    assert state() == before

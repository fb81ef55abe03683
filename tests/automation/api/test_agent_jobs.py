"""Agent API for jobs: the long-poll that hands out work, stream records and the end report.
A worker credential reaches only the jobs its own worker holds; bad input is refused whole."""

import hashlib
import threading
import uuid

import pytest
from django.db import connections

from automation.api.agent import jobs as agent_jobs
from automation.models import Job, JobStatus, JobStream
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.runbooks import create_runbook, publish_runbook
from automation.services.workers import register_worker
from tests.automation.api.helpers import assert_error, call
from tests.support.state import state

SYSTEM = Actor.for_system()
CONTENT = '#!/bin/bash\necho "hello $1"\n'
DECLARED = [{"name": "who", "type": "string", "required": True}, {"name": "times", "type": "int", "default": 1}]
PAYLOAD_KEYS = {
    "attempt",
    "webhook_data",
    "run_as",
    "id",
    "lease",
    "runbook",
    "version",
    "runbook_type",
    "content",
    "sha256",
    "parameters",
    "declared",
    "timeout_seconds",
}


class World:
    """Account A: runbook 'hello'; group 'lab' (web-01 and web-02) and group 'other' (db-01).
    Account B: group 'b-lab' (b-01) with runbook 'hello' too."""

    def __init__(self, people):
        self.people = people
        self.account = people.account
        for account in (people.account, people.other_account):
            runbook = create_runbook(
                account=account,
                name="hello",
                runbook_type="bash",
                content=CONTENT,
                parameters=DECLARED,
                actor=SYSTEM,
            )
            publish_runbook(runbook=runbook, actor=SYSTEM)
        self.creds = {}
        self.workers = {}
        for account, group, name, capacity in [
            (people.account, "lab", "web-01", 2),
            (people.account, "lab", "web-02", 2),
            (people.account, "other", "db-01", 2),
            (people.other_account, "b-lab", "b-01", 2),
        ]:
            registration = register_worker(
                account=account,
                group_name=group,
                machine_id=f"machine-{name}",
                name=name,
                facts={"capacity": capacity},
            )
            self.workers[name] = registration.worker
            self.creds[name] = registration.credential

    def start(self, group="lab", account=None, **parameters) -> Job:
        return job_services.start_job(
            account=account or self.account,
            runbook_name="hello",
            group_name=group,
            parameters={"who": "world", **parameters},
            actor=SYSTEM,
        )

    def held(self, name="web-01", group="lab") -> Job:
        """A job of `group` claimed by worker `name`."""
        self.start(group)
        (job,) = job_services.claim_jobs(worker=self.workers[name], limit=1)
        return job


@pytest.fixture
def world(people):
    return World(people)


def next_jobs(client, world, name="web-01", body=None, account=None):
    return call(
        client,
        (account or world.account).pk,
        "jobs/next",
        {"wait": 0} if body is None else body,
        token=world.creds[name],
    )


def records_of(client, world, job, body, name="web-01", account=None):
    return call(client, (account or world.account).pk, f"jobs/{job.pk}/records", body, token=world.creds[name])


def finish_of(client, world, job, body, name="web-01", account=None):
    return call(client, (account or world.account).pk, f"jobs/{job.pk}/finish", body, token=world.creds[name])


def lines(*seqs, stream="output"):
    return [{"seq": seq, "stream": stream, "text": f"line {seq}"} for seq in seqs]


# ---- the long-poll (an async view: its database work runs on other threads) -------------------------

long_poll = pytest.mark.django_db(transaction=True)


@long_poll
def test_with_nothing_queued_the_long_poll_answers_at_once_with_empty_lists(agent, world):
    response = next_jobs(agent, world)

    assert response.status_code == 200, response.content
    assert response.json() == {"jobs": [], "stop": []}


@long_poll
def test_a_queued_job_comes_with_its_content_and_sha256(agent, world):
    job = world.start(times=3)

    response = next_jobs(agent, world)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["stop"] == []
    (payload,) = body["jobs"]
    assert set(payload) == PAYLOAD_KEYS
    version = Job.objects.select_related("version").get(pk=job.pk).version
    assert payload["id"] == str(job.pk)
    assert (payload["runbook"], payload["version"], payload["runbook_type"]) == ("hello", 1, "bash")
    assert payload["content"] == version.content == CONTENT
    assert payload["sha256"] == version.sha256 == hashlib.sha256(CONTENT.encode()).hexdigest()
    assert payload["parameters"] == {"who": "world", "times": 3}
    assert payload["declared"] == version.parameters
    assert payload["timeout_seconds"] is None
    stored = Job.objects.get(pk=job.pk)
    assert (stored.status, stored.worker, str(stored.lease_id)) == (
        JobStatus.ACTIVATING,
        world.workers["web-01"],
        payload["lease"],
    )


@long_poll
def test_the_long_poll_never_hands_out_another_groups_or_accounts_job(agent, world):
    other = world.start("other")
    foreign = world.start("b-lab", account=world.people.other_account)

    for name in ("web-01", "web-02"):
        assert next_jobs(agent, world, name).json() == {"jobs": [], "stop": []}
    assert next_jobs(agent, world, "b-01", account=world.people.other_account).json()["jobs"][0]["id"] == str(
        foreign.pk
    )
    assert next_jobs(agent, world, "db-01").json()["jobs"][0]["id"] == str(other.pk)
    assert Job.objects.get(pk=other.pk).worker == world.workers["db-01"]


@long_poll
def test_the_long_poll_hands_out_no_more_than_the_workers_free_capacity(agent, world):
    for _ in range(3):
        world.start()

    assert len(next_jobs(agent, world).json()["jobs"]) == 2
    assert next_jobs(agent, world).json()["jobs"] == []
    assert len(next_jobs(agent, world, "web-02").json()["jobs"]) == 1


@long_poll
def test_the_long_poll_tells_the_worker_which_of_its_jobs_to_stop(agent, world):
    job = world.held()
    job_services.request_stop(job=job, actor=SYSTEM)

    assert next_jobs(agent, world).json() == {"jobs": [], "stop": [str(job.pk)]}
    assert next_jobs(agent, world, "web-02").json() == {"jobs": [], "stop": []}


def wait_in_thread(client, world, wait: float):
    """Start a long-poll of web-01 on another thread; returns (thread, result dict)."""
    result = {}

    def run():
        try:
            result["response"] = next_jobs(client, world, body={"wait": wait})
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


@long_poll
def test_a_job_queued_while_an_agent_waits_reaches_it_through_the_channel_layer(agent, world, settings, monkeypatch):
    # No fallback poll before the wait ends: only the push can deliver the job within the wait.
    monkeypatch.setattr(agent_jobs, "FALLBACK_POLL_SECONDS", 120.0)
    settings.LONG_POLL_SECONDS = 60
    thread, result = wait_in_thread(agent, world, 60)

    job = world.start()
    thread.join(timeout=90)

    assert not thread.is_alive()
    response = result["response"]
    assert response.status_code == 200, response.content
    assert [j["id"] for j in response.json()["jobs"]] == [str(job.pk)]


@long_poll
def test_a_stop_requested_while_an_agent_waits_reaches_it(agent, world, settings, monkeypatch):
    monkeypatch.setattr(agent_jobs, "FALLBACK_POLL_SECONDS", 120.0)
    settings.LONG_POLL_SECONDS = 60
    # web-01 is full, so the job queued below stays queued and only the stop can end the wait.
    job, _ = world.held(), world.held()
    world.start()
    thread, result = wait_in_thread(agent, world, 60)

    job_services.request_stop(job=job, actor=SYSTEM)
    thread.join(timeout=90)

    assert not thread.is_alive()
    assert result["response"].json() == {"jobs": [], "stop": [str(job.pk)]}


@long_poll
@pytest.mark.parametrize("body", [{"wait": -1}, {"wait": "soon"}, {"wait": None}, {"wait": 3601}])
def test_a_bad_wait_is_400_and_claims_nothing(agent, world, body):
    world.start()
    before = state()

    assert_error(next_jobs(agent, world, body=body), 400, "invalid")

    assert state() == before


@long_poll
def test_the_long_poll_needs_the_workers_own_credential_for_this_account(agent, world):
    world.start()
    before = state()

    for token in (None, "nonsense", world.creds["b-01"]):
        response = call(agent, world.account.pk, "jobs/next", {"wait": 0}, token=token)
        assert_error(response, 401, "unauthorized")

    assert state() == before


# ---- stream records ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_records_are_stored_and_the_first_batch_marks_the_job_running(agent, world):
    job = world.held()

    response = records_of(agent, world, job, {"lease": str(job.lease_id), "records": lines(0, 1)})

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "Running", "stop": False}
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING
    assert list(JobStream.objects.filter(job=job).values_list("seq", "text")) == [(0, "line 0"), (1, "line 1")]


@pytest.mark.django_db
def test_a_retried_batch_adds_nothing_twice(agent, world):
    job = world.held()
    body = {"lease": str(job.lease_id), "records": lines(0, 1, 2)}

    for _ in range(2):
        assert records_of(agent, world, job, body).status_code == 200

    assert JobStream.objects.filter(job=job).count() == 3


@pytest.mark.django_db
def test_the_answer_to_records_says_when_to_stop(agent, world):
    job = world.held()
    job_services.request_stop(job=job, actor=SYSTEM)

    response = records_of(agent, world, job, {"lease": str(job.lease_id), "records": lines(0)})

    assert response.json() == {"status": "Stopping", "stop": True}


@pytest.mark.django_db
@pytest.mark.parametrize("operation", ["records", "finish"])
def test_no_worker_may_report_on_a_job_it_does_not_hold(agent, world, operation):
    job = world.held("web-01")
    body = {"lease": str(job.lease_id), "records": lines(0), "status": "Completed", "exit_code": 0}
    send = records_of if operation == "records" else finish_of
    queued = world.start("other")
    before = state()

    # The other member of the same group, a worker of another group, and one of another account.
    assert_error(send(agent, world, job, body, "web-02"), 404, "no_such_job")
    assert_error(send(agent, world, job, body, "db-01"), 404, "no_such_job")
    other = world.people.other_account
    assert_error(send(agent, world, job, body, "b-01", account=other), 404, "no_such_job")
    # ...and with its own credential under this account's URL it is not even let in.
    assert_error(send(agent, world, job, body, "b-01"), 401, "unauthorized")
    # Nor is a job of another group that is still queued reachable by guessing its id.
    assert_error(send(agent, world, queued, body, "web-01"), 404, "no_such_job")
    assert_error(send(agent, world, Job(pk=uuid.uuid4()), body, "web-01"), 404, "no_such_job")

    assert state() == before
    assert Job.objects.get(pk=job.pk).status == JobStatus.ACTIVATING
    assert Job.objects.get(pk=queued.pk).status == JobStatus.QUEUED


@pytest.mark.django_db
@pytest.mark.parametrize("operation", ["records", "finish"])
def test_a_report_under_a_stale_lease_is_409_and_changes_nothing(agent, world, operation):
    job = world.held()
    records_of(agent, world, job, {"lease": str(job.lease_id), "records": lines(0)})
    send = records_of if operation == "records" else finish_of
    before = state()

    response = send(agent, world, job, {"lease": str(uuid.uuid4()), "records": lines(1), "status": "Completed"})

    assert_error(response, 409, "stale_lease")
    assert state() == before


DROP = object()


def record(**fields) -> dict:
    """One record of a batch, with fields changed (or dropped)."""
    item = {"seq": 0, "stream": "output", "text": "x", **fields}
    return {k: v for k, v in item.items() if v is not DROP}


def with_records(records):
    return lambda lease: {"lease": lease, "records": records}


BAD_RECORDS = [
    pytest.param(with_records([record(seq=-1)]), id="seq<0"),
    pytest.param(with_records([record(seq=2**31)]), id="seq-over-int32"),
    pytest.param(with_records([record(seq="1")]), id="seq-str"),
    pytest.param(with_records([record(seq=1.5)]), id="seq-float"),
    pytest.param(with_records([record(seq=True)]), id="seq-bool"),
    pytest.param(with_records([record(seq=DROP)]), id="no-seq"),
    pytest.param(with_records([record(stream="stdout")]), id="stream"),
    pytest.param(with_records([record(stream="Output")]), id="stream-case"),
    pytest.param(with_records([record(text=5)]), id="text-int"),
    pytest.param(with_records([record(text=None)]), id="text-null"),
    pytest.param(with_records([record(text=DROP)]), id="no-text"),
    pytest.param(with_records([*lines(0, 1), record(seq=2, text=["x"])]), id="last-bad"),
    pytest.param(with_records(record()), id="not-list"),
    pytest.param(with_records("line 0"), id="records-str"),
    pytest.param(with_records([0, 1]), id="items-not-objects"),
    pytest.param(lambda lease: {"lease": lease}, id="no-records"),
    pytest.param(lambda lease: {"records": lines(0)}, id="no-lease"),
    pytest.param(lambda lease: {"lease": "not-a-uuid", "records": lines(0)}, id="bad-lease"),
    pytest.param(lambda lease: [{"lease": lease, "records": lines(0)}], id="body-list"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("make_body", BAD_RECORDS)
def test_bad_records_are_400_and_nothing_is_written(agent, world, make_body):
    job = world.held()
    before = state()

    assert_error(records_of(agent, world, job, make_body(str(job.lease_id))), 400)

    assert state() == before
    assert Job.objects.get(pk=job.pk).status == JobStatus.ACTIVATING


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"), [("{not json", "parse_error"), (b"\xff\xfe", "parse_error"), ("", "invalid")]
)
def test_a_body_that_is_not_json_is_400(agent, world, body, code):
    job = world.held()
    before = state()

    assert_error(records_of(agent, world, job, body), 400, code)

    assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("operation", ["records", "finish"])
def test_a_body_over_the_limit_is_413_and_nothing_is_written(agent, world, settings, operation):
    settings.AGENT_STREAM_MAX_BODY_BYTES = 256 * 1024
    job = world.held()
    text = "x" * settings.AGENT_STREAM_MAX_BODY_BYTES
    body = {"lease": str(job.lease_id), "records": [record(text=text)], "status": "Completed"}
    send = records_of if operation == "records" else finish_of
    before = state()

    assert_error(send(agent, world, job, body), 413, "payload_too_large")

    assert state() == before


@pytest.mark.django_db
def test_a_record_of_a_whole_mebibyte_fits_under_the_stream_limit(agent, world):
    """AGENT_MAX_BODY_BYTES is for registration and heartbeats; records may be 1 MiB each."""
    job = world.held()
    text = "é" * (1024 * 1024)
    response = records_of(agent, world, job, {"lease": str(job.lease_id), "records": [record(text=text)]})

    assert response.status_code == 200, response.content
    assert JobStream.objects.get(job=job).text == text


@pytest.mark.django_db
def test_records_for_a_finished_job_are_409(agent, world):
    job = world.held()
    finish_of(agent, world, job, {"lease": str(job.lease_id), "status": "Completed", "exit_code": 0})
    before = state()

    assert_error(records_of(agent, world, job, {"lease": str(job.lease_id), "records": lines(0)}), 409, "job_ended")

    assert state() == before


# ---- the end report ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_job_ends_with_its_status_exit_code_reason_and_last_records(agent, world):
    job = world.held()
    records_of(agent, world, job, {"lease": str(job.lease_id), "records": lines(0)})

    response = finish_of(
        agent,
        world,
        job,
        {
            "lease": str(job.lease_id),
            "status": "Failed",
            "exit_code": 2,
            "reason": "bash: line 3: nope: command not found",
            "records": lines(1, stream="error"),
        },
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "Failed", "stop": False, "jobs": []}
    stored = Job.objects.get(pk=job.pk)
    assert (stored.status, stored.exit_code, stored.status_reason) == (
        "Failed",
        2,
        "bash: line 3: nope: command not found",
    )
    assert list(JobStream.objects.filter(job=job).values_list("seq", "stream")) == [(0, "output"), (1, "error")]


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["Completed", "Failed", "Stopped"])
def test_each_final_status_may_be_reported_without_records(agent, world, status):
    job = world.held()

    response = finish_of(agent, world, job, {"lease": str(job.lease_id), "status": status})

    assert response.status_code == 200, response.content
    assert Job.objects.get(pk=job.pk).status == status


@pytest.mark.django_db
def test_a_second_end_report_is_409_and_changes_nothing(agent, world):
    job = world.held()
    body = {"lease": str(job.lease_id), "status": "Completed", "exit_code": 0}
    assert finish_of(agent, world, job, body).status_code == 200
    before = state()

    again = {"lease": str(job.lease_id), "status": "Failed", "exit_code": 1, "records": lines(9)}
    assert_error(finish_of(agent, world, job, again), 409, "job_ended")

    assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"status": "Running"},
        {"status": "completed"},
        {"status": ""},
        {"status": None},
        {"status": 0},
        {"status": None, "exit_code": 0},
        {"exit_code": "0"},
        {"exit_code": 1.5},
        {"exit_code": True},
        {"exit_code": 2**31},
        {"exit_code": -(2**31) - 1},
        {"records": [record(seq=-1)]},
        {"records": [record(stream="stderr")]},
        {"records": "oops"},
    ],
)
def test_a_bad_end_report_is_400_and_changes_nothing(agent, world, change):
    job = world.held()
    body = {"lease": str(job.lease_id), "status": "Completed", "exit_code": 0, **change}
    before = state()

    assert_error(finish_of(agent, world, job, body), 400)

    assert state() == before
    assert Job.objects.get(pk=job.pk).status == JobStatus.ACTIVATING


@pytest.mark.django_db
def test_an_end_report_without_a_status_is_400(agent, world):
    job = world.held()
    before = state()

    body = assert_error(finish_of(agent, world, job, {"lease": str(job.lease_id), "exit_code": 0}), 400, "invalid")

    assert "status" in body["detail"]
    assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("exit_code", [2**31 - 1, -(2**31), -15, None])
def test_any_exit_code_a_process_can_have_is_stored(agent, world, exit_code):
    job = world.held()

    response = finish_of(agent, world, job, {"lease": str(job.lease_id), "status": "Failed", "exit_code": exit_code})

    assert response.status_code == 200, response.content
    assert Job.objects.get(pk=job.pk).exit_code == exit_code

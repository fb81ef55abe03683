"""Agent API under faults: heartbeat fencing (409 stale_lease), claims the agent no longer lists, the
leave endpoint, secrets in the payload, an end report that claims the next job, and the long-poll
that a stop already being carried out does not end."""

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from automation.models import HybridWorker, Job, JobStatus, JobStream, Notification
from automation.queries.groups import groups_of
from automation.queries.workers import with_presence, worker_totals, workers_of
from automation.services import jobs as job_services
from automation.services.actor import Actor
from automation.services.leases import reclaim_lost_jobs
from automation.services.presence import is_online, offline_after, sweep_presence
from automation.services.runbooks import MASK, create_runbook, publish_runbook
from automation.services.workers import register_worker
from tests.automation.api.helpers import assert_error, call
from tests.support import state as snapshot

SYSTEM = Actor.for_system()
SECRET = "s3cret-t0ken-\u00e9"
DECLARED = [{"name": "who", "type": "string", "default": "world"}, {"name": "token", "type": "secret"}]
long_poll = pytest.mark.django_db(transaction=True)


class World:
    """Account A, group "lab": web-01 and web-02 (capacity 2 each); runbooks "again" (retries 1) and
    "once" (no retries), both with a secret parameter."""

    def __init__(self, people):
        self.people = people
        self.account = people.account
        for name, retries in (("again", 1), ("once", 0)):
            runbook = create_runbook(
                account=self.account,
                name=name,
                runbook_type="bash",
                content="echo $1",
                parameters=DECLARED,
                retries=retries,
                actor=SYSTEM,
            )
            publish_runbook(runbook=runbook, actor=SYSTEM)
        self.creds, self.ids = {}, {}
        for name in ("web-01", "web-02"):
            registration = register_worker(
                account=self.account, group_name="lab", machine_id=f"machine-{name}", name=name, facts={"capacity": 2}
            )
            self.creds[name], self.ids[name] = registration.credential, registration.worker.pk

    def worker(self, name="web-01") -> HybridWorker:
        return HybridWorker.objects.select_related("group").get(pk=self.ids[name])

    def start(self, runbook="once", **parameters) -> Job:
        return job_services.start_job(
            account=self.account, runbook_name=runbook, group_name="lab", parameters=parameters, actor=SYSTEM
        )

    def held(self, runbook="once", name="web-01", **parameters) -> Job:
        """A new job claimed by `name` (Activating)."""
        self.start(runbook, **parameters)
        (job,) = job_services.claim_jobs(worker=self.worker(name), limit=1)
        return job

    def running(self, runbook="once", name="web-01", **parameters) -> Job:
        job = self.held(runbook, name, **parameters)
        records = [job_services.Record(seq=0, stream="output", text="first", time=timezone.now())]
        job_services.append_records(worker=self.worker(name), job_id=job.pk, lease=job.lease_id, records=records)
        return Job.objects.get(pk=job.pk)

    def lose(self, name="web-01"):
        """`name` went silent past its lease, and the sweep took its jobs back."""
        HybridWorker.objects.filter(pk=self.ids[name]).update(
            last_seen_at=timezone.now() - offline_after() - timedelta(seconds=1)
        )
        return reclaim_lost_jobs()

    def post(self, client, operation, body=None, name="web-01", token=None):
        return call(client, self.account.pk, operation, body, token=token or self.creds[name])


@pytest.fixture
def world(people) -> World:
    return World(people)


def state() -> dict[str, list[tuple]]:
    """Every stored row, a worker's last_seen_at too: a refused agent request must not count as a sighting."""
    return snapshot.state(ignoring=())


def jobs_and_streams(rows: dict[str, list[tuple]]) -> tuple[list[tuple], list[tuple]]:
    """The jobs and their records of a snapshot: the requests between two snapshots may write a worker's row."""
    return rows["Job"], rows["JobStream"]


def held_item(job, lease=None) -> dict:
    return {"id": str(job.pk), "lease": str(lease or job.lease_id)}


def age_claim(job, seconds: float) -> None:
    Job.objects.filter(pk=job.pk).update(claimed_at=timezone.now() - timedelta(seconds=seconds))


# ---- fencing: a heartbeat that names jobs the worker lost ---------------------------------------------


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("runbook", "taken_back_as", "report_refusal"),
    [("once", JobStatus.FAILED, (409, "stale_lease")), ("again", JobStatus.QUEUED, (404, "no_such_job"))],
)
def test_a_heartbeat_naming_a_job_taken_back_is_409_and_does_not_count(
    agent, world, runbook, taken_back_as, report_refusal
):
    job = world.running(runbook)
    world.lose("web-01")
    assert Job.objects.get(pk=job.pk).status == taken_back_as
    before = state()

    response = world.post(agent, "heartbeat", {"facts": {"os": "Changed OS"}, "jobs": [held_item(job)]})

    body = assert_error(response, 409, "stale_lease")
    assert body["lost"] == [str(job.pk)]
    assert state() == before  # last_seen_at and facts not written, nothing taken back
    assert not is_online(world.worker())
    # Its late records and end report are refused too, and store nothing. (A job it lost to the queue
    # is no longer held by it at all: 404; one that ended under it: 409.)
    status, code = report_refusal
    records = {"lease": str(job.lease_id), "records": [{"seq": 1, "stream": "output", "text": "late"}]}
    assert_error(world.post(agent, f"jobs/{job.pk}/records", records), status, code)
    finish = {**records, "status": "Completed", "exit_code": 0}
    assert_error(world.post(agent, f"jobs/{job.pk}/finish", finish), status, code)
    assert state() == before


@pytest.mark.django_db
@pytest.mark.sqlite
def test_a_heartbeat_naming_a_job_now_held_by_another_member_is_409_for_the_old_one_only(agent, world):
    job = world.running("again")
    old_lease = job.lease_id
    world.lose("web-01")
    (retry,) = job_services.claim_jobs(worker=world.worker("web-02"))

    stale = world.post(agent, "heartbeat", {"jobs": [held_item(job, old_lease)]}, name="web-01")
    current = world.post(agent, "heartbeat", {"jobs": [held_item(retry)]}, name="web-02")

    assert assert_error(stale, 409, "stale_lease")["lost"] == [str(job.pk)]
    assert current.status_code == 200, current.content
    assert Job.objects.get(pk=job.pk).status == JobStatus.ACTIVATING


@pytest.mark.django_db
@pytest.mark.sqlite
def test_only_the_jobs_whose_lease_moved_on_are_named(agent, world):
    kept = world.running()
    lost = world.running()
    Job.objects.filter(pk=lost.pk).update(lease_id=uuid.uuid4())  # as a take-back and a new claim would

    response = world.post(agent, "heartbeat", {"jobs": [held_item(kept), held_item(lost)]})

    assert assert_error(response, 409, "stale_lease")["lost"] == [str(lost.pk)]
    assert Job.objects.get(pk=kept.pk).status == JobStatus.RUNNING


@pytest.mark.django_db
@pytest.mark.sqlite
def test_a_heartbeat_listing_only_current_leases_is_200_and_counts(agent, world):
    running = world.running()
    ended = world.held()
    job_services.finish_job(worker=world.worker(), job_id=ended.pk, lease=ended.lease_id, status="Completed")
    HybridWorker.objects.filter(pk=world.ids["web-01"]).update(last_seen_at=timezone.now() - timedelta(seconds=30))
    for job in (running, ended):
        age_claim(job, 60)
    jobs_before = jobs_and_streams(state())

    # An ended job stays listed until the agent knows its end was received: still its lease.
    response = world.post(agent, "heartbeat", {"jobs": [held_item(running), held_item(ended)]})

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"worker_id", "name", "group", "heartbeat_interval", "server_time"}
    assert timezone.now() - world.worker().last_seen_at < timedelta(seconds=5)
    assert jobs_and_streams(state()) == jobs_before


BAD_JOBS = [
    pytest.param("not a list", id="string"),
    pytest.param({"id": "x", "lease": "y"}, id="object"),
    pytest.param(None, id="null"),
    pytest.param([1, 2], id="items-not-objects"),
    pytest.param([["id", "lease"]], id="items-lists"),
    pytest.param([{"id": "nope", "lease": str(uuid.uuid4())}], id="bad-id"),
    pytest.param([{"id": str(uuid.uuid4()), "lease": "nope"}], id="bad-lease"),
    pytest.param([{"id": str(uuid.uuid4())}], id="no-lease"),
    pytest.param([{"lease": str(uuid.uuid4())}], id="no-id"),
    pytest.param([{"id": 5, "lease": 6}], id="numbers"),
    pytest.param([{"id": str(uuid.uuid4()), "lease": str(uuid.uuid4())}] * 1025, id="too-many"),
]


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("jobs", BAD_JOBS)
def test_a_heartbeat_with_a_bad_jobs_list_is_400_and_changes_nothing(agent, world, settings, jobs):
    settings.AGENT_MAX_BODY_BYTES = 1024 * 1024  # room for 1025 items: refused for their number, not the size
    job = world.held()
    age_claim(job, 3600)  # were the heartbeat applied, this unlisted claim would go back
    HybridWorker.objects.filter(pk=world.ids["web-01"]).update(last_seen_at=timezone.now() - timedelta(seconds=30))
    before = state()

    assert_error(world.post(agent, "heartbeat", {"jobs": jobs}), 400, "invalid")

    assert state() == before


# ---- claims the agent does not list -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize(("interval", "settled"), [(15, 15), (1, 5)])
def test_a_claim_the_agent_does_not_list_goes_back_once_settled(agent, world, settings, interval, settled):
    settings.HEARTBEAT_INTERVAL_SECONDS = interval
    old, young, others = world.held(), world.held(), world.held(name="web-02")
    age_claim(old, settled + 2)
    age_claim(young, settled - 2)
    age_claim(others, settled + 2)

    response = world.post(agent, "heartbeat", {"jobs": []})

    assert response.status_code == 200, response.content
    stored = Job.objects.get(pk=old.pk)
    assert (stored.status, stored.worker_id, stored.lease_id) == (JobStatus.QUEUED, None, None)
    assert Job.objects.get(pk=young.pk).status == JobStatus.ACTIVATING  # may still be on its way
    assert Job.objects.get(pk=others.pk).status == JobStatus.ACTIVATING  # another worker's
    assert world.post(agent, "heartbeat", {"jobs": [held_item(young)]}).status_code == 200
    # ...and the queue hands it out again.
    assert job_services.claim_jobs(worker=world.worker("web-02"))[0].pk == old.pk


@pytest.mark.django_db
@pytest.mark.sqlite
def test_a_running_job_the_restarted_agent_does_not_list_is_retried_per_its_runbook(agent, world):
    retried, failed = world.running("again"), world.running("once")
    for job in (retried, failed):
        age_claim(job, 600)

    assert world.post(agent, "heartbeat", {"jobs": []}).status_code == 200

    again = Job.objects.get(pk=retried.pk)
    assert (again.status, again.attempt, again.retries_left) == (JobStatus.QUEUED, 2, 0)
    reason = "worker lost: web-01 no longer has it (its agent restarted or never received it)"
    assert JobStream.objects.get(job=retried, stream="warning").text.startswith(f"{reason}: attempt 1 ended here")
    ended = Job.objects.get(pk=failed.pk)
    assert (ended.status, ended.status_reason) == (JobStatus.FAILED, reason)


@pytest.mark.django_db
@pytest.mark.sqlite
def test_a_heartbeat_without_a_jobs_list_takes_nothing_back(agent, world):
    """Older agents do not send the list: their claims stay until their lease runs out."""
    job = world.running("again")
    waiting = world.held()
    for item in (job, waiting):
        age_claim(item, 3600)
    jobs_before = jobs_and_streams(state())

    response = world.post(agent, "heartbeat", {"facts": {"capacity": 2}})

    assert response.status_code == 200, response.content
    assert jobs_and_streams(state()) == jobs_before


# ---- leave -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.sqlite
def test_leaving_takes_the_worker_offline_and_gives_back_what_it_holds(agent, world):
    HybridWorker.objects.filter(pk=world.ids["web-01"]).update(capacity=3)
    waiting = world.held()
    retried = world.running("again")
    failed = world.running("once")
    elsewhere = world.running("once", name="web-02")

    response = world.post(agent, "leave")

    assert response.status_code == 200, response.content
    assert response.json() == {"released": 3}
    states = {job.pk: Job.objects.get(pk=job.pk) for job in (waiting, retried, failed, elsewhere)}
    assert (states[waiting.pk].status, states[waiting.pk].attempt) == (JobStatus.QUEUED, 1)
    assert (states[retried.pk].status, states[retried.pk].attempt) == (JobStatus.QUEUED, 2)
    assert (states[failed.pk].status, states[failed.pk].status_reason) == (
        JobStatus.FAILED,
        "worker lost: web-01 stopped its service",
    )
    assert states[elsewhere.pk].status == JobStatus.RUNNING
    # Offline at once, wherever workers are shown; its lease is no longer counted on.
    web01 = world.worker()
    assert web01.left_at is not None and not is_online(web01)
    assert groups_of(world.account).get(name="lab").online_count == 1
    assert dict(with_presence(workers_of(world.account)).values_list("name", "is_online")) == {
        "web-01": False,
        "web-02": True,
    }
    assert worker_totals(world.account)["online"] == 1
    assert reclaim_lost_jobs().count == 0  # nothing is taken back twice


@pytest.mark.django_db
@pytest.mark.sqlite
def test_the_presence_sweep_tells_once_that_the_service_stopped_and_a_heartbeat_brings_it_back(agent, world):
    assert world.post(agent, "leave").json() == {"released": 0}

    first, second = sweep_presence(), sweep_presence()

    assert (first.went_offline, second.went_offline) == (["web-01"], [])
    titles = list(Notification.objects.filter(account=world.account).values_list("title", flat=True))
    assert titles.count("Worker web-01 in group lab stopped its service") == 1
    assert not [t for t in titles if "went offline" in t]

    assert world.post(agent, "heartbeat", {}).status_code == 200
    assert is_online(world.worker())
    assert sweep_presence().came_back == ["web-01"]
    assert groups_of(world.account).get(name="lab").online_count == 2


@pytest.mark.django_db
@pytest.mark.sqlite
def test_leaving_needs_the_workers_own_credential(agent, world):
    world.held()
    before = state()

    for token in ("", "nonsense", "hrw_abc.def", world.creds["web-01"] + "x"):
        response = call(agent, world.account.pk, "leave", token=token or None)
        assert_error(response, 401, "unauthorized")
    other = register_worker(
        account=world.people.other_account, group_name="b", machine_id="machine-b-01", name="b-01", facts={}
    )
    assert_error(call(agent, world.account.pk, "leave", token=other.credential), 401, "unauthorized")

    assert jobs_and_streams(state()) == jobs_and_streams(before)
    assert HybridWorker.objects.filter(left_at__isnull=False).count() == 0


# ---- secrets in the payload ---------------------------------------------------------------------------


@long_poll
def test_the_payload_carries_the_secret_and_the_end_report_clears_it(agent, world):
    job = world.start(who="bob", token=SECRET)

    (payload,) = world.post(agent, "jobs/next", {"wait": 0}).json()["jobs"]

    assert payload["parameters"] == {"who": "bob", "token": SECRET}
    stored = Job.objects.get(pk=job.pk)
    assert stored.parameters == {"who": "bob", "token": MASK}
    assert stored.secret_parameters and SECRET not in stored.secret_parameters
    finish = {"lease": payload["lease"], "status": "Completed", "exit_code": 0}
    assert world.post(agent, f"jobs/{job.pk}/finish", finish).status_code == 200
    assert Job.objects.get(pk=job.pk).secret_parameters == ""


# ---- an end report that claims the next job -----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.sqlite
def test_an_end_report_with_claim_carries_the_next_queued_job(agent, world):
    done = world.held()
    following = world.start("again", token=SECRET)
    Job.objects.filter(pk=following.pk).update(queued_at=timezone.now() - timedelta(seconds=3))

    response = world.post(
        agent, f"jobs/{done.pk}/finish", {"lease": str(done.lease_id), "status": "Completed", "claim": 1}
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["stop"]) == ("Completed", False)
    (payload,) = body["jobs"]
    assert (payload["id"], payload["runbook"], payload["attempt"]) == (str(following.pk), "again", 1)
    assert payload["parameters"] == {"who": "world", "token": SECRET}
    stored = Job.objects.get(pk=following.pk)
    assert (stored.status, stored.worker_id, str(stored.lease_id)) == (
        JobStatus.ACTIVATING,
        world.ids["web-01"],
        payload["lease"],
    )
    assert 3000 <= stored.pickup_ms < 60_000
    assert stored.claimed_at is not None


@pytest.mark.django_db
@pytest.mark.sqlite
def test_an_end_report_claims_no_more_than_the_freed_capacity(agent, world):
    done, _ = world.held(), world.held()  # web-01 is full
    for _ in range(3):
        world.start()

    response = world.post(
        agent, f"jobs/{done.pk}/finish", {"lease": str(done.lease_id), "status": "Failed", "claim": 5}
    )

    assert len(response.json()["jobs"]) == 1
    assert job_services.held_job_count(world.worker()) == 2
    assert Job.objects.filter(status=JobStatus.QUEUED).count() == 2


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize("claim", [None, 0])
def test_an_end_report_without_claim_takes_nothing(agent, world, claim):
    done = world.held()
    queued = world.start()
    body = {"lease": str(done.lease_id), "status": "Completed"}
    if claim is not None:
        body["claim"] = claim

    response = world.post(agent, f"jobs/{done.pk}/finish", body)

    assert response.json() == {"status": "Completed", "stop": False, "jobs": []}
    assert Job.objects.get(pk=queued.pk).status == JobStatus.QUEUED


@pytest.mark.django_db
@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"lease": str(uuid.uuid4())}, 409, "stale_lease"),
        ({"claim": -1}, 400, "invalid"),
        ({"claim": 1025}, 400, "invalid"),
        ({"claim": "many"}, 400, "invalid"),
        ({"claim": "1"}, 400, "invalid"),
        ({"claim": True}, 400, "invalid"),
        ({"claim": 1.5}, 400, "invalid"),
    ],
)
def test_a_refused_end_report_claims_nothing(agent, world, change, status, code):
    done = world.held()
    world.start()
    before = state()

    body = {"lease": str(done.lease_id), "status": "Completed", "claim": 1, **change}
    assert_error(world.post(agent, f"jobs/{done.pk}/finish", body), status, code)

    assert state() == before


@long_poll
def test_an_end_reports_claim_and_a_long_poll_at_once_never_exceed_capacity(agent, world, monkeypatch):
    """Each round, both claims are let go together after the end report is stored: only the lock on the
    worker's row keeps the second from counting the slot the first is taking. Several rounds, because
    without that lock the race is likely, not certain."""
    rounds = 4
    for _ in range(2 + rounds):
        world.start()
    held = [job_services.claim_jobs(worker=world.worker(), limit=1)[0] for _ in range(2)]
    together = threading.Barrier(2, timeout=30)
    real_claim = job_services.claim_jobs

    def claim_together(*, worker, limit=1):
        together.wait()
        return real_claim(worker=worker, limit=limit)

    monkeypatch.setattr(job_services, "claim_jobs", claim_together)

    def run(answers, key, operation, body):
        try:
            answers[key] = world.post(agent, operation, body)
        finally:
            connections.close_all()

    for left in range(rounds - 1, -1, -1):
        done, kept = held
        answers: dict = {}
        finish = {"lease": str(done.lease_id), "status": "Completed", "claim": 2}
        threads = [
            threading.Thread(target=run, args=(answers, "finish", f"jobs/{done.pk}/finish", finish)),
            threading.Thread(target=run, args=(answers, "poll", "jobs/next", {"wait": 0})),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        assert answers["finish"].status_code == answers["poll"].status_code == 200
        handed_out = answers["finish"].json()["jobs"] + answers["poll"].json()["jobs"]
        assert len(handed_out) == 1, handed_out
        active = Job.objects.filter(worker_id=world.ids["web-01"], status=JobStatus.ACTIVATING)
        assert set(active.values_list("pk", flat=True)) == {kept.pk, uuid.UUID(handed_out[0]["id"])}
        assert Job.objects.filter(status=JobStatus.QUEUED).count() == left
        held = [kept, Job.objects.get(pk=handed_out[0]["id"])]


# ---- the long-poll and stops already being carried out -------------------------------------------------


@long_poll
def test_a_stop_the_agent_is_already_carrying_out_does_not_end_the_wait(agent, world):
    job = world.running()
    job_services.request_stop(job=job, actor=SYSTEM)

    started = time.monotonic()
    response = world.post(agent, "jobs/next", {"wait": 0.5, "stopping": [str(job.pk)]})
    waited = time.monotonic() - started

    assert response.json() == {"jobs": [], "stop": []}
    assert waited >= 0.5
    assert Job.objects.get(pk=job.pk).status == JobStatus.STOPPING


@long_poll
def test_a_stop_the_agent_did_not_list_ends_the_wait_at_once(agent, world):
    known, new = world.running(), world.running()
    for job in (known, new):
        job_services.request_stop(job=job, actor=SYSTEM)

    started = time.monotonic()
    unlisted = world.post(agent, "jobs/next", {"wait": 20})
    listed_one = world.post(agent, "jobs/next", {"wait": 20, "stopping": [str(known.pk)]})

    assert sorted(unlisted.json()["stop"]) == sorted([str(known.pk), str(new.pk)])
    assert listed_one.json() == {"jobs": [], "stop": [str(new.pk)]}
    assert time.monotonic() - started < 20


@long_poll
def test_work_still_ends_the_wait_while_a_stop_is_being_carried_out(agent, world):
    job = world.running()
    job_services.request_stop(job=job, actor=SYSTEM)
    queued = world.start()

    started = time.monotonic()
    response = world.post(agent, "jobs/next", {"wait": 20, "stopping": [str(job.pk)]})

    body = response.json()
    assert ([item["id"] for item in body["jobs"]], body["stop"]) == ([str(queued.pk)], [])
    assert time.monotonic() - started < 20


@long_poll
@pytest.mark.parametrize("stopping", ["all", [1], ["not-a-uuid"], {"id": "x"}, None])
def test_a_bad_stopping_list_is_400_and_claims_nothing(agent, world, stopping):
    world.start()
    before = state()

    assert_error(world.post(agent, "jobs/next", {"wait": 0, "stopping": stopping}), 400, "invalid")

    assert state() == before

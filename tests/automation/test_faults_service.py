"""Faults, at the service layer: retries of a job whose worker was lost (and where its records go),
claims an agent no longer lists, secret parameters, why a queued job waits, and Test pane runs.

The clock is travelled with `now=` (or by moving last_seen_at / claimed_at in the database), never
slept on; the one concurrency test waits on a database lock it can observe, not on time.
"""

import hashlib
import json
import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation.models import AuditEvent, HybridWorker, Job, JobStatus, JobStream, Runbook
from automation.queries.jobs import jobs_of
from automation.queries.waiting import annotate_waiting_reasons, status_reason
from automation.services import crypto
from automation.services import jobs as svc
from automation.services.actor import Actor
from automation.services.errors import Conflict, InvalidInput, NotFound
from automation.services.groups import create_group
from automation.services.leases import reclaim_lost_jobs, release_worker, take_back_unlisted
from automation.services.presence import offline_after
from automation.services.runbooks import MASK, create_runbook, publish_runbook, update_draft
from automation.services.workers import register_worker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db
SYSTEM = Actor.for_system()
LOST_W1 = "worker lost: w1 stopped heartbeating or was removed"
SECRET = "pa55-w0rd/with?odd&chars=\u00e9"
DECLARED = [
    {"name": "user", "type": "string", "required": True},
    {"name": "token", "type": "secret", "required": True},
]


class World:
    """Account A with group "lab": w1 and w2, two slots each. Runbooks are made per test."""

    def __init__(self, people):
        self.people = people
        self.account = people.account
        self.workers = {
            name: register_worker(
                account=people.account,
                group_name="lab",
                machine_id=f"machine-{name}",
                name=name,
                facts={"capacity": 2},
            ).worker
            for name in ("w1", "w2")
        }

    def runbook(self, name="rb", *, retries=0, content="echo hi", parameters=None, timeout=None, publish=True):
        book = create_runbook(
            account=self.account,
            name=name,
            runbook_type="bash",
            content=content,
            parameters=parameters,
            retries=retries,
            timeout_seconds=timeout,
            actor=SYSTEM,
        )
        if publish:
            publish_runbook(runbook=book, actor=SYSTEM)
        return book

    def worker(self, name) -> HybridWorker:
        return HybridWorker.objects.select_related("group").get(pk=self.workers[name].pk)

    def start(self, runbook="rb", group="lab", **parameters) -> Job:
        return svc.start_job(
            account=self.account, runbook_name=runbook, group_name=group, parameters=parameters, actor=SYSTEM
        )

    def claim(self, name="w1") -> Job:
        (job,) = svc.claim_jobs(worker=self.worker(name), limit=1)
        return job

    def append(self, job: Job, *seqs, name="w1", text="line", lease=None):
        return svc.append_records(
            worker=self.worker(name), job_id=job.pk, lease=lease or job.lease_id, records=records(*seqs, text=text)
        )

    def running(self, runbook="rb", name="w1", seqs=(0,), text="first", **parameters) -> Job:
        """A job of `runbook` claimed by `name`, Running with records `seqs`."""
        self.start(runbook, **parameters)
        job = self.claim(name)
        self.append(job, *seqs, name=name, text=text)
        return Job.objects.get(pk=job.pk)

    def silence(self, name) -> datetime:
        """A moment just past `name`'s lease at which every other worker has just heartbeated."""
        now = self.worker(name).last_seen_at + offline_after() + timedelta(seconds=1)
        HybridWorker.objects.exclude(pk=self.workers[name].pk).update(last_seen_at=now)
        return now


@pytest.fixture
def world(people) -> World:
    return World(people)


def records(*seqs, text="line", stream="output") -> list[svc.Record]:
    return [svc.Record(seq=seq, stream=stream, text=f"{text} {seq}", time=timezone.now()) for seq in seqs]


def streams(job) -> list[tuple]:
    return list(JobStream.objects.filter(job_id=job.pk).order_by("seq").values_list("seq", "stream", "text"))


def fetch(job) -> Job:
    return Job.objects.get(pk=job.pk)


def marker(reason: str, ended: int) -> str:
    return f"{reason}: attempt {ended} ended here; the job is queued again as attempt {ended + 1}."


# ---- retries -------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_lost_running_job_with_a_retry_left_is_queued_again_as_the_next_attempt(world):
    world.runbook(retries=1)
    job = world.running(seqs=(0, 1, 2))
    queued_at = fetch(job).queued_at
    now = world.silence("w1")

    result = reclaim_lost_jobs(now=now)

    assert (result.retried, result.requeued, result.failed) == ([str(job.pk)], [], [])
    stored = fetch(job)
    assert (stored.status, stored.attempt, stored.retries_left) == (JobStatus.QUEUED, 2, 0)
    assert (stored.lease_id, stored.worker_id, stored.worker_name) == (None, None, "")
    assert (stored.claimed_at, stored.started_at, stored.ended_at, stored.pickup_ms) == (None, None, None, None)
    assert stored.status_reason == f"{LOST_W1}; retrying"
    assert stored.queued_at == queued_at  # back at the front of the queue
    assert streams(job) == [
        (0, "output", "first 0"),
        (1, "output", "first 1"),
        (2, "output", "first 2"),
        (3, "warning", marker(LOST_W1, 1)),
    ]
    assert JobStream.objects.get(job_id=job.pk, seq=3).time == now
    assert stored.seq_base == 4


@pytest.mark.sqlite
def test_the_retry_runs_elsewhere_and_its_records_follow_the_earlier_ones(world):
    world.runbook(retries=1)
    job = world.running(seqs=(0, 1, 2))
    reclaim_lost_jobs(now=world.silence("w1"))

    retry = world.claim("w2")
    assert retry.pk == job.pk
    assert svc.job_for_agent(retry)["attempt"] == 2
    world.append(retry, 0, 1, name="w2", text="second")
    world.append(retry, 0, name="w2", text="replayed")  # a batch sent again adds nothing
    svc.finish_job(
        worker=world.worker("w2"),
        job_id=job.pk,
        lease=retry.lease_id,
        status="Completed",
        exit_code=0,
        records=records(2, text="second"),
    )

    assert streams(job) == [
        (0, "output", "first 0"),
        (1, "output", "first 1"),
        (2, "output", "first 2"),
        (3, "warning", marker(LOST_W1, 1)),
        (4, "output", "second 0"),
        (5, "output", "second 1"),
        (6, "output", "second 2"),
    ]
    stored = fetch(job)
    assert (stored.status, stored.attempt, stored.worker_name) == (JobStatus.COMPLETED, 2, "w2")


@pytest.mark.sqlite
def test_the_lost_worker_cannot_add_to_the_retry(world):
    world.runbook(retries=1)
    job = world.running(seqs=(0,))
    old_lease = job.lease_id
    reclaim_lost_jobs(now=world.silence("w1"))
    before = streams(job)

    # Queued again: w1 holds nothing of it any more.
    with pytest.raises(NotFound):
        world.append(job, 1, name="w1", lease=old_lease, text="late")
    retry = world.claim("w2")
    with pytest.raises(NotFound):
        world.append(job, 1, name="w1", lease=old_lease, text="late")
    with pytest.raises(NotFound):
        svc.finish_job(worker=world.worker("w1"), job_id=job.pk, lease=old_lease, status="Completed")

    assert streams(job) == before
    stored = fetch(job)
    assert (stored.status, stored.worker_name, stored.lease_id) == (JobStatus.ACTIVATING, "w2", retry.lease_id)


@pytest.mark.sqlite
def test_lost_again_with_no_retry_left_it_fails_worker_lost(world):
    world.runbook(retries=1)
    job = world.running(seqs=(0,))
    reclaim_lost_jobs(now=world.silence("w1"))
    retry = world.claim("w2")
    world.append(retry, 0, name="w2")
    now = world.silence("w2")

    result = reclaim_lost_jobs(now=now)

    assert (result.retried, result.failed) == ([], [str(job.pk)])
    stored = fetch(job)
    assert stored.status == JobStatus.FAILED
    assert stored.status_reason == "worker lost: w2 stopped heartbeating or was removed"
    assert (stored.attempt, stored.retries_left, stored.lease_id, stored.ended_at) == (2, 0, None, now)
    # No marker for an attempt that is not followed by another.
    assert [row[1] for row in streams(job)] == ["output", "warning", "output"]


@pytest.mark.sqlite
def test_each_retry_is_numbered_and_every_attempts_records_are_kept(world):
    world.runbook(retries=2)
    job = world.running(seqs=(0, 1), text="one")
    reclaim_lost_jobs(now=world.silence("w1"))
    second = world.claim("w2")
    world.append(second, 0, 1, name="w2", text="two")
    reclaim_lost_jobs(now=world.silence("w2"))

    stored = fetch(job)
    assert (stored.status, stored.attempt, stored.retries_left, stored.seq_base) == (JobStatus.QUEUED, 3, 0, 6)
    lost_w2 = "worker lost: w2 stopped heartbeating or was removed"
    assert streams(job) == [
        (0, "output", "one 0"),
        (1, "output", "one 1"),
        (2, "warning", marker(LOST_W1, 1)),
        (3, "output", "two 0"),
        (4, "output", "two 1"),
        (5, "warning", marker(lost_w2, 2)),
    ]
    third = world.claim("w1")
    assert svc.job_for_agent(third)["attempt"] == 3
    world.append(third, 0, name="w1", text="three")
    assert streams(job)[-1] == (6, "output", "three 0")


@pytest.mark.sqlite
def test_with_no_retries_a_lost_running_job_fails_at_once(world):
    world.runbook(retries=0)
    job = world.running(seqs=(0, 1))
    now = world.silence("w1")

    result = reclaim_lost_jobs(now=now)

    assert (result.retried, result.failed) == ([], [str(job.pk)])
    stored = fetch(job)
    assert (stored.status, stored.status_reason, stored.attempt, stored.ended_at) == (
        JobStatus.FAILED,
        LOST_W1,
        1,
        now,
    )
    assert (stored.lease_id, stored.seq_base) == (None, 0)
    assert streams(job) == [(0, "output", "first 0"), (1, "output", "first 1")]


@pytest.mark.sqlite
def test_a_job_taken_back_before_it_started_keeps_its_retry(world):
    world.runbook(retries=1)
    world.start()
    job = world.claim("w1")

    result = reclaim_lost_jobs(now=world.silence("w1"))

    assert (result.requeued, result.retried) == ([str(job.pk)], [])
    stored = fetch(job)
    assert (stored.status, stored.attempt, stored.retries_left, stored.seq_base) == (JobStatus.QUEUED, 1, 1, 0)
    assert (stored.lease_id, stored.worker_id, stored.claimed_at, stored.pickup_ms) == (None, None, None, None)
    assert streams(job) == []
    # The retry is still there for a worker lost while running it.
    again = world.claim("w2")
    world.append(again, 0, name="w2")
    assert reclaim_lost_jobs(now=world.silence("w2")).retried == [str(job.pk)]
    assert (fetch(job).status, fetch(job).attempt) == (JobStatus.QUEUED, 2)


@pytest.mark.sqlite
def test_a_job_being_stopped_ends_stopped_and_is_not_retried(world):
    world.runbook(retries=2)
    job = world.running()
    svc.request_stop(job=fetch(job), actor=SYSTEM)

    result = reclaim_lost_jobs(now=world.silence("w1"))

    assert (result.retried, result.failed) == ([], [str(job.pk)])
    stored = fetch(job)
    assert (stored.status, stored.status_reason) == (JobStatus.STOPPED, LOST_W1)
    assert (stored.attempt, stored.retries_left, stored.lease_id) == (1, 2, None)


@pytest.mark.sqlite
def test_a_test_pane_run_is_never_retried(world):
    book = world.runbook(retries=3, publish=False)
    job = svc.start_test(runbook=book, group_name="lab", actor=SYSTEM)
    assert fetch(job).retries_left == 0
    claimed = world.claim("w1")
    world.append(claimed, 0)

    result = reclaim_lost_jobs(now=world.silence("w1"))

    assert (result.retried, result.failed) == ([], [str(job.pk)])
    stored = fetch(job)
    assert (stored.status, stored.attempt, stored.is_test) == (JobStatus.FAILED, 1, True)


@pytest.mark.django_db(transaction=True)
def test_a_batch_in_flight_when_its_job_is_taken_back_lands_before_the_retry_marker(world, monkeypatch):
    """The lost worker's last batch and the sweep race: the batch is either refused or stored before the
    marker, never over the slots of the next attempt's records."""
    world.runbook(retries=1)
    job = world.running(seqs=(0,))
    now = world.silence("w1")
    in_store, go = threading.Event(), threading.Event()
    real_store = svc._store

    def paused_store(held, batch):
        if batch and batch[0].text.startswith("late"):
            in_store.set()
            go.wait(30)
        real_store(held, batch)

    monkeypatch.setattr(svc, "_store", paused_store)
    outcome: dict = {}

    def late_batch():
        try:
            world.append(job, 1, 2, text="late")
            outcome["late"] = "stored"
        except (Conflict, NotFound) as exc:
            outcome["late"] = exc.code
        finally:
            connections.close_all()

    def sweep():
        try:
            outcome["sweep"] = reclaim_lost_jobs(now=now)
        finally:
            connections.close_all()

    batch = threading.Thread(target=late_batch)
    batch.start()
    assert in_store.wait(30)
    sweeper = threading.Thread(target=sweep)
    sweeper.start()

    # The sweep either waits for the batch's transaction (a session of this database waiting on a lock) or, if
    # nothing makes it wait, finishes while the batch is still between its lease check and its insert.
    def waiting_on_a_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return bool(cursor.fetchone()[0])

    wait_until(
        lambda: not sweeper.is_alive() or waiting_on_a_lock(), "the sweep to wait or finish", timeout=30, every=0.01
    )
    go.set()
    batch.join(30)
    sweeper.join(30)

    assert outcome["sweep"].retried == [str(job.pk)]
    stored = fetch(job)
    rows = streams(job)
    if outcome["late"] == "stored":
        assert rows == [
            (0, "output", "first 0"),
            (1, "output", "late 1"),
            (2, "output", "late 2"),
            (3, "warning", marker(LOST_W1, 1)),
        ]
    else:
        assert rows == [(0, "output", "first 0"), (1, "warning", marker(LOST_W1, 1))]
    assert stored.seq_base == rows[-1][0] + 1
    # The next attempt's first record takes the first free slot.
    retry = world.claim("w2")
    world.append(retry, 0, name="w2", text="second")
    assert streams(job)[-1] == (stored.seq_base, "output", "second 0")


@pytest.mark.sqlite
def test_a_retry_may_use_the_whole_seq_range_after_an_attempt_that_did(world):
    """Each attempt numbers its records from 0 to MAX_SEQ; stored, they follow the earlier attempts'."""
    world.runbook(retries=1)
    job = world.running(seqs=(0, svc.MAX_SEQ))
    reclaim_lost_jobs(now=world.silence("w1"))
    retry = world.claim("w2")

    world.append(retry, 0, svc.MAX_SEQ, name="w2", text="second")

    base = fetch(job).seq_base
    assert base == svc.MAX_SEQ + 2
    assert streams(job)[-2:] == [(base, "output", "second 0"), (base + svc.MAX_SEQ, "output", f"second {svc.MAX_SEQ}")]


# ---- claims an agent does not list -----------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize(("interval", "settled"), [(15, 15), (2, 5)])
def test_a_claim_the_agent_does_not_list_goes_back_once_it_is_settled(world, settings, interval, settled):
    """Settled: claimed longer ago than a heartbeat interval, and at least 5 s."""
    settings.HEARTBEAT_INTERVAL_SECONDS = interval
    world.runbook()
    world.start()
    job = world.claim("w1")
    claimed_at = fetch(job).claimed_at
    w1 = world.worker("w1")

    young = take_back_unlisted(worker=w1, held=[], now=claimed_at + timedelta(seconds=settled - 1))
    assert young.count == 0
    assert fetch(job).status == JobStatus.ACTIVATING

    old = take_back_unlisted(worker=w1, held=[], now=claimed_at + timedelta(seconds=settled + 1))
    assert old.requeued == [str(job.pk)]
    stored = fetch(job)
    assert (stored.status, stored.worker_id, stored.lease_id) == (JobStatus.QUEUED, None, None)


@pytest.mark.sqlite
def test_only_unlisted_claims_of_that_worker_go_back(world):
    world.runbook(retries=1)
    listed = world.running(name="w1")
    unlisted_running = world.running(name="w1")
    others = world.running(name="w2")
    later = max(fetch(j).claimed_at for j in (listed, unlisted_running, others)) + timedelta(minutes=5)

    result = take_back_unlisted(worker=world.worker("w1"), held=[str(listed.pk)], now=later)

    # An agent that restarted lost the run: retried as a lost worker's would be.
    assert (result.requeued, result.retried, result.failed) == ([], [str(unlisted_running.pk)], [])
    assert fetch(listed).status == JobStatus.RUNNING
    assert fetch(others).status == JobStatus.RUNNING
    stored = fetch(unlisted_running)
    assert (stored.status, stored.attempt) == (JobStatus.QUEUED, 2)
    assert stored.status_reason.startswith("worker lost: w1 no longer has it")


# ---- leaving ---------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_worker_that_leaves_gives_back_everything_it_holds_at_once(world):
    world.runbook("again", retries=1)
    world.runbook("once", retries=0)
    world.start("again")
    waiting = world.claim("w1")
    retried = world.running("again")
    failed = world.running("once", name="w2")  # w2 holds it, w1 leaves: untouched

    result = release_worker(worker=world.worker("w1"))

    assert (result.requeued, result.retried, result.failed) == ([str(waiting.pk)], [str(retried.pk)], [])
    assert fetch(failed).status == JobStatus.RUNNING
    assert fetch(retried).status_reason == "worker lost: w1 stopped its service; retrying"


# ---- secret parameters -------------------------------------------------------------------------------


def everything_stored() -> str:
    """Every row a secret could leak into, as text."""
    rows = [
        *Job.objects.values(),
        *JobStream.objects.values(),
        *AuditEvent.objects.values(),
        *Runbook.objects.values(),
    ]
    return json.dumps(rows, default=str, ensure_ascii=False)


@pytest.mark.sqlite
def test_a_secret_is_masked_encrypted_at_rest_and_reaches_only_the_runbook(world):
    world.runbook(parameters=DECLARED)

    job = world.start(user="bob", token=SECRET)

    stored = fetch(job)
    assert stored.parameters == {"user": "bob", "token": MASK}
    assert stored.secret_parameters and SECRET not in stored.secret_parameters
    assert json.loads(crypto.decrypt(stored.secret_parameters)) == {"token": SECRET}
    assert SECRET not in everything_stored()
    assert svc.job_for_agent(world.claim("w1"))["parameters"] == {"user": "bob", "token": SECRET}


def end_by_finishing(world, job):
    claimed = world.claim("w1")
    svc.finish_job(worker=world.worker("w1"), job_id=job.pk, lease=claimed.lease_id, status="Completed")


def end_by_stopping_queued(world, job):
    svc.request_stop(job=fetch(job), actor=SYSTEM)


def end_by_losing_worker(world, job):
    claimed = world.claim("w1")
    world.append(claimed, 0)
    reclaim_lost_jobs(now=world.silence("w1"))


def end_by_losing_worker_while_stopping(world, job):
    claimed = world.claim("w1")
    world.append(claimed, 0)
    svc.request_stop(job=fetch(job), actor=SYSTEM)
    reclaim_lost_jobs(now=world.silence("w1"))


@pytest.mark.sqlite
@pytest.mark.parametrize(
    "end", [end_by_finishing, end_by_stopping_queued, end_by_losing_worker, end_by_losing_worker_while_stopping]
)
def test_the_encrypted_secret_is_cleared_when_the_job_ends(world, end):
    world.runbook(parameters=DECLARED)
    job = world.start(user="bob", token=SECRET)

    end(world, job)

    stored = fetch(job)
    assert stored.is_final
    assert stored.secret_parameters == ""
    assert stored.parameters == {"user": "bob", "token": MASK}


@pytest.mark.sqlite
def test_a_job_queued_again_keeps_its_secret_for_the_next_attempt(world):
    world.runbook(parameters=DECLARED, retries=1)
    job = world.start(user="bob", token=SECRET)
    world.append(world.claim("w1"), 0)
    reclaim_lost_jobs(now=world.silence("w1"))

    retry = world.claim("w2")

    assert svc.job_for_agent(retry)["parameters"] == {"user": "bob", "token": SECRET}
    assert retry.pk == job.pk and retry.attempt == 2


@pytest.mark.sqlite
@pytest.mark.parametrize("default", ["hunter2", "", 5])
def test_a_secret_cannot_be_declared_with_a_default(world, default):
    declared = [{"name": "token", "type": "secret", "default": default}]
    events = AuditEvent.objects.count()

    with pytest.raises(InvalidInput) as error:
        world.runbook(parameters=declared)
    assert error.value.field == "parameters"
    assert "secret" in error.value.detail
    assert not Runbook.objects.filter(name="rb").exists()

    book = world.runbook("plain", parameters=[{"name": "token", "type": "secret"}])
    with pytest.raises(InvalidInput):
        update_draft(runbook=book, actor=SYSTEM, content="echo changed", parameters=declared)
    book.refresh_from_db()
    assert (book.draft, book.parameters) == ("echo hi", [{"name": "token", "type": "secret", "required": False}])
    assert AuditEvent.objects.count() == events + 2  # the create and publish of "plain" only


# ---- why a queued job waits ----------------------------------------------------------------------------


def explained(*jobs) -> list[str | None]:
    rows = list(Job.objects.filter(pk__in=[j.pk for j in jobs]).order_by("created_at"))
    annotate_waiting_reasons(rows)
    return [row.waiting_reason for row in rows]


def stamp(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S %Z}"


@pytest.mark.sqlite
def test_a_job_in_a_group_without_workers_says_to_register_one(world):
    world.runbook()
    create_group(account=world.account, name="empty", actor=SYSTEM)

    (reason,) = explained(world.start(group="empty"))

    assert reason == (
        "Waiting: hybrid worker group empty has no workers. Register one with `hybridworker register --group empty`."
    )


@pytest.mark.sqlite
def test_a_job_whose_workers_are_all_offline_names_them_with_their_last_heartbeat(world):
    world.runbook()
    seen = timezone.now() - timedelta(hours=3)
    for name in ("n1", "n2"):
        register_worker(account=world.account, group_name="night", machine_id=f"machine-{name}", name=name, facts={})
    HybridWorker.objects.filter(name="n1").update(last_seen_at=seen)
    HybridWorker.objects.filter(name="n2").update(last_seen_at=None)

    (reason,) = explained(world.start(group="night"))

    assert reason == f"Waiting: every worker in group night is offline (n1 last seen {stamp(seen)}, n2 never seen)."


@pytest.mark.sqlite
def test_a_worker_that_left_counts_as_offline_and_many_are_summed_up(world):
    world.runbook()
    seen = timezone.now() - timedelta(hours=1)
    for i in range(12):
        register_worker(
            account=world.account, group_name="farm", machine_id=f"machine-f{i:02}", name=f"f{i:02}", facts={}
        )
    HybridWorker.objects.filter(group__name="farm").exclude(name="f00").update(last_seen_at=seen)
    release_worker(worker=HybridWorker.objects.get(name="f00"))  # just heartbeated, but its service stopped
    f00 = HybridWorker.objects.get(name="f00")

    (reason,) = explained(world.start(group="farm"))

    shown = [f"f00 last seen {stamp(f00.last_seen_at)}"] + [f"f{i:02} last seen {stamp(seen)}" for i in range(1, 10)]
    assert reason == f"Waiting: every worker in group farm is offline ({', '.join(shown)} and 2 more)."


@pytest.mark.sqlite
def test_a_job_whose_online_workers_are_all_busy_counts_their_slots(world):
    world.runbook()
    for name, capacity in (("b1", 1), ("b2", 2), ("b3", 5)):
        register_worker(
            account=world.account,
            group_name="busy",
            machine_id=f"machine-{name}",
            name=name,
            facts={"capacity": capacity},
        )
    HybridWorker.objects.filter(name="b3").update(last_seen_at=timezone.now() - offline_after())  # offline
    for name in ("b1", "b2", "b2"):
        world.start(group="busy")
        svc.claim_jobs(worker=HybridWorker.objects.get(name=name))

    (reason,) = explained(world.start(group="busy"))

    assert reason == (
        "Waiting: every online worker in group busy is at capacity (3 of 3 slots busy); it runs when a job ends."
    )


@pytest.mark.sqlite
def test_a_job_with_a_free_slot_online_just_waits_for_pickup_and_others_have_no_waiting_reason(world):
    world.runbook(retries=1)
    held = world.running()
    queued = world.start()

    assert explained(held, queued) == [None, "Waiting for a worker of group lab to pick it up (1 of 4 slots busy)."]
    assert status_reason(fetch(held)) == ""  # nothing explained: its own reason


@pytest.mark.sqlite
def test_a_retried_job_says_why_it_is_queued_again_and_why_it_waits(world):
    world.runbook(retries=1)
    job = world.running()
    reclaim_lost_jobs(now=world.silence("w1"))
    HybridWorker.objects.update(last_seen_at=timezone.now())

    (reason,) = explained(job)

    assert reason == f"{LOST_W1}; retrying. Waiting for a worker of group lab to pick it up (0 of 4 slots busy)."


@pytest.mark.sqlite
def test_a_job_whose_group_was_deleted_says_so(world):
    world.runbook()
    job = world.start()
    Job.objects.filter(pk=job.pk).update(group=None)

    assert explained(job) == ["Waiting: hybrid worker group lab no longer exists."]


@pytest.mark.sqlite
def test_explaining_costs_one_query_however_many_jobs_and_groups(world):
    world.runbook()
    groups = ["lab"]
    for i in range(4):
        groups.append(f"g{i}")
        register_worker(account=world.account, group_name=f"g{i}", machine_id=f"machine-g{i}", name=f"g{i}", facts={})
    create_group(account=world.account, name="empty", actor=SYSTEM)
    groups.append("empty")
    jobs = [world.start(group=groups[i % len(groups)]) for i in range(50)]

    costs = {}
    for count in (5, 50):
        rows = list(Job.objects.filter(pk__in=[j.pk for j in jobs[:count]]))
        with CaptureQueriesContext(connection) as queries:
            annotate_waiting_reasons(rows)
        costs[count] = len(queries)
        assert all(row.waiting_reason for row in rows)

    assert costs == {5: 1, 50: 1}
    with CaptureQueriesContext(connection) as queries:
        annotate_waiting_reasons([])
    assert len(queries) == 0


# ---- Test pane runs ------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_a_test_run_takes_a_snapshot_of_the_draft_as_it_was_when_started(world):
    book = world.runbook(content="echo published")
    draft = "echo draft $1\n"
    update_draft(
        runbook=book,
        actor=SYSTEM,
        content=draft,
        parameters=[{"name": "only_in_draft", "type": "int", "required": True}],
    )

    job = svc.start_test(runbook=book, group_name="lab", actor=SYSTEM, parameters={"only_in_draft": 7})
    update_draft(runbook=book, actor=SYSTEM, content="echo changed afterwards", parameters=[])

    stored = fetch(job)
    assert (stored.is_test, stored.version_id, stored.version_number) == (True, None, 0)
    payload = svc.job_for_agent(world.claim("w1"))
    assert (payload["version"], payload["content"], payload["parameters"]) == (0, draft, {"only_in_draft": 7})
    assert payload["sha256"] == hashlib.sha256(draft.encode()).hexdigest()
    assert payload["declared"] == [{"name": "only_in_draft", "type": "int", "required": True}]
    assert job.pk not in set(jobs_of(world.account).values_list("pk", flat=True))
    assert job.pk in set(jobs_of(world.account, tests=True).values_list("pk", flat=True))
    # The published runbook still runs its published version.
    assert svc.job_for_agent(fetch(world.start()))["content"] == "echo published"


@pytest.mark.sqlite
@pytest.mark.parametrize("draft", ["", "   \n\t"])
def test_an_empty_draft_cannot_be_tested(world, draft):
    book = world.runbook(content=draft, publish=False)
    before = (Job.objects.count(), AuditEvent.objects.count())

    with pytest.raises(InvalidInput) as error:
        svc.start_test(runbook=book, group_name="lab", actor=SYSTEM)

    assert error.value.field == "content"
    assert (Job.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.sqlite
@pytest.mark.parametrize(("given", "stored"), [(None, 900), (60, 60)])
def test_a_job_gets_the_runbooks_default_timeout_unless_it_has_its_own(world, given, stored):
    book = world.runbook(timeout=900)

    job = svc.start_job(account=world.account, runbook_name="rb", group_name="lab", timeout_seconds=given, actor=SYSTEM)
    test = svc.start_test(runbook=book, group_name="lab", timeout_seconds=given, actor=SYSTEM)

    assert fetch(job).timeout_seconds == fetch(test).timeout_seconds == stored
